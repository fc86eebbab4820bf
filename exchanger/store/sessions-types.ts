/**
 * A console sign-in (`console/session.ts`). The cookie holds a random id; the store keeps only its
 * SHA-256, so reading the store does not let anyone act as the person.
 */

export interface ConsoleSession {
  /** SHA-256 (hex) of the id in the cookie. */
  idHash: string;
  /** GitHub login and numeric user id, as GitHub's `GET /user` answered at sign-in. */
  login: string;
  userId: string;
  createdAt: Date;
  /** When it ends unless used again: the idle limit, never past `absoluteExpiresAt`. */
  expiresAt: Date;
  /** When it ends however much it is used. */
  absoluteExpiresAt: Date;
}

export interface SessionStore {
  /** Stores a new console session. */
  createSession(session: ConsoleSession): Promise<void>;
  /** The session with this id hash, or undefined; an expired one is returned too (the caller checks). */
  getSession(idHash: string): Promise<ConsoleSession | undefined>;
  /** Moves the idle expiry of a session (never past its absolute expiry: the caller computes it). */
  extendSession(idHash: string, expiresAt: Date): Promise<void>;
  /** Deletes the session (sign-out); deleting one that is gone does nothing. */
  deleteSession(idHash: string): Promise<void>;
}

/**
 * Console sessions. The cookie carries a random 256-bit id; the store keeps its SHA-256 with the
 * GitHub login and user id, so sign-in on one instance holds on every instance sharing the store.
 * A session ends after an hour unused or twelve hours after sign-in, whichever comes first, and
 * at sign-out. The CSRF token is derived from the cookie's id (an HMAC), so any instance can check
 * it and the store, which holds only the id's hash, cannot produce it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { hashSecret } from '../digest.js';
import type { Store } from '../store/types.js';
import { hostCookie, readCookie } from './cookies.js';

export const SESSION_COOKIE = '__Host-jitkey_session';
export const IDLE_MS = 60 * 60_000;
export const ABSOLUTE_MS = 12 * 60 * 60_000;
/** The idle expiry is written again only when it has moved this much: not one write per page. */
const EXTEND_STEP_MS = 5 * 60_000;

/** The person behind a request's session. */
export interface SignedIn {
  login: string;
  /** GitHub's numeric user id, as a string (what self-approval compares). */
  id: string;
  /** The token every form of this session carries. */
  csrf: string;
  idHash: string;
  /** Named in the policy's `admins:` (set by the router): the navigation shows the admins' screens. */
  admin?: boolean;
}

export type SessionStore = Pick<Store, 'createSession' | 'getSession' | 'extendSession' | 'deleteSession'>;

export function csrfToken(sessionId: string): string {
  return createHmac('sha256', sessionId).update('jitkey console form').digest('base64url');
}

export function csrfMatches(expected: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface Sessions {
  /** Stores a new session; returns the `Set-Cookie` value that hands it to the browser. */
  start(who: { login: string; id: string }): Promise<string>;
  /** The request's session, if it has a live one (extending its idle expiry). */
  read(req: IncomingMessage): Promise<SignedIn | undefined>;
  /** Deletes the session; returns the `Set-Cookie` value that clears the cookie. */
  end(who: SignedIn | undefined): Promise<string>;
}

export function createSessions(store: SessionStore, now: () => Date): Sessions {
  return {
    async start(who) {
      const id = randomBytes(32).toString('base64url');
      const at = now();
      await store.createSession({
        idHash: hashSecret(id),
        login: who.login,
        userId: who.id,
        createdAt: at,
        expiresAt: new Date(at.getTime() + IDLE_MS),
        absoluteExpiresAt: new Date(at.getTime() + ABSOLUTE_MS),
      });
      return hostCookie(SESSION_COOKIE, id, ABSOLUTE_MS / 1000);
    },
    async read(req) {
      const id = readCookie(req, SESSION_COOKIE);
      if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
      const idHash = hashSecret(id);
      const session = await store.getSession(idHash);
      if (!session) return undefined;
      const at = now().getTime();
      if (at >= session.expiresAt.getTime() || at >= session.absoluteExpiresAt.getTime()) {
        await store.deleteSession(idHash);
        return undefined;
      }
      const next = Math.min(at + IDLE_MS, session.absoluteExpiresAt.getTime());
      if (next - session.expiresAt.getTime() >= EXTEND_STEP_MS) {
        await store.extendSession(idHash, new Date(next));
      }
      return { login: session.login, id: session.userId, csrf: csrfToken(id), idHash };
    },
    async end(who) {
      if (who) await store.deleteSession(who.idHash);
      return hostCookie(SESSION_COOKIE, '', 0);
    },
  };
}

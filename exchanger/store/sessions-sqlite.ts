/** Console sessions in the SQLite store: one row per sign-in, keyed by the SHA-256 of its cookie id. */
import type Database from 'better-sqlite3';
import type { SqliteIo } from './approvals-sqlite.js';
import type { ConsoleSession, SessionStore } from './sessions-types.js';

export const SQLITE_SESSIONS_MIGRATION = `
  CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    login TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
  CREATE INDEX audit_request_id ON audit (request_id, at);`;

interface SessionRow {
  id_hash: string;
  login: string;
  user_id: string;
  created_at: number;
  expires_at: number;
  absolute_expires_at: number;
}

const time = (d: Date, what: string): number => {
  const t = d.getTime();
  if (!Number.isFinite(t)) throw new RangeError(`${what} is not a valid date`);
  return t;
};

export function sqliteSessions(db: Database.Database, io: Pick<SqliteIo, 'write' | 'read'>): SessionStore {
  const insert = db.prepare<SessionRow>(
    `INSERT INTO console_sessions (id_hash, login, user_id, created_at, expires_at, absolute_expires_at)
     VALUES (@id_hash, @login, @user_id, @created_at, @expires_at, @absolute_expires_at)`,
  );
  const select = db.prepare<[string], SessionRow>('SELECT * FROM console_sessions WHERE id_hash = ?');
  const extend = db.prepare<[number, string]>(
    'UPDATE console_sessions SET expires_at = min(?, absolute_expires_at) WHERE id_hash = ?',
  );
  const remove = db.prepare<[string]>('DELETE FROM console_sessions WHERE id_hash = ?');
  return {
    createSession: (s: ConsoleSession) =>
      io.write(() => {
        const row: SessionRow = {
          id_hash: s.idHash,
          login: s.login,
          user_id: s.userId,
          created_at: time(s.createdAt, 'createdAt'),
          expires_at: time(s.expiresAt, 'expiresAt'),
          absolute_expires_at: time(s.absoluteExpiresAt, 'absoluteExpiresAt'),
        };
        return () => void insert.run(row);
      }),
    getSession: (idHash) =>
      io.read('read the console session', () => {
        const row = select.get(idHash);
        return (
          row && {
            idHash: row.id_hash,
            login: row.login,
            userId: row.user_id,
            createdAt: new Date(row.created_at),
            expiresAt: new Date(row.expires_at),
            absoluteExpiresAt: new Date(row.absolute_expires_at),
          }
        );
      }),
    extendSession: (idHash, expiresAt) =>
      io.write(() => {
        const until = time(expiresAt, 'expiresAt');
        return () => void extend.run(until, idHash);
      }),
    deleteSession: (idHash) => io.write(() => () => void remove.run(idHash)),
  };
}

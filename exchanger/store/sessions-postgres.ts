/** Console sessions in the PostgreSQL store: one row per sign-in, keyed by the SHA-256 of its cookie id. */
import type { PostgresIo } from './approvals-postgres.js';
import type { ConsoleSession, SessionStore } from './sessions-types.js';

export const postgresSessionsMigration = (t: (name: string) => string) => `
  CREATE TABLE ${t('console_sessions')} (
    id_hash text PRIMARY KEY,
    login text NOT NULL,
    user_id text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL
  );
  CREATE INDEX console_sessions_expires_at ON ${t('console_sessions')} (expires_at);
  CREATE INDEX audit_request_id ON ${t('audit')} (request_id, at, id);`;

interface SessionRow {
  id_hash: string;
  login: string;
  user_id: string;
  created_at: Date;
  expires_at: Date;
  absolute_expires_at: Date;
}

export function postgresSessions({ t, query }: Pick<PostgresIo, 't' | 'query'>): SessionStore {
  return {
    async createSession(s: ConsoleSession) {
      await query('record the console session', {
        name: 'jitkey_create_session',
        text: `INSERT INTO ${t('console_sessions')}
                 (id_hash, login, user_id, created_at, expires_at, absolute_expires_at)
               VALUES ($1, $2, $3, $4, $5, $6)`,
        values: [s.idHash, s.login, s.userId, s.createdAt, s.expiresAt, s.absoluteExpiresAt],
      });
    },
    async getSession(idHash) {
      const { rows } = await query<SessionRow>('read the console session', {
        name: 'jitkey_get_session',
        text: `SELECT id_hash, login, user_id, created_at, expires_at, absolute_expires_at
                 FROM ${t('console_sessions')} WHERE id_hash = $1`,
        values: [idHash],
      });
      const row = rows[0];
      return (
        row && {
          idHash: row.id_hash,
          login: row.login,
          userId: row.user_id,
          createdAt: row.created_at,
          expiresAt: row.expires_at,
          absoluteExpiresAt: row.absolute_expires_at,
        }
      );
    },
    async extendSession(idHash, expiresAt) {
      await query('extend the console session', {
        name: 'jitkey_extend_session',
        text: `UPDATE ${t('console_sessions')} SET expires_at = LEAST($1::timestamptz, absolute_expires_at)
                WHERE id_hash = $2`,
        values: [expiresAt, idHash],
      });
    },
    async deleteSession(idHash) {
      await query('delete the console session', {
        name: 'jitkey_delete_session',
        text: `DELETE FROM ${t('console_sessions')} WHERE id_hash = $1`,
        values: [idHash],
      });
    },
  };
}

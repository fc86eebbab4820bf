/**
 * The PostgreSQL connection pool: bounded (`max`, default 10), with connect, statement and read
 * timeouts, so a slow or unreachable database costs a request seconds, not forever. An idle
 * client whose connection dies emits `error`; the listener keeps that from killing the process,
 * and the pool opens a new client on the next query.
 */
import pg from 'pg';
import { JitkeyError } from '../errors.js';
import type { Logger } from '../log.js';
import { storeFailure } from './common.js';

const CONNECT_TIMEOUT_MS = 5000;
const STATEMENT_TIMEOUT_MS = 5000;

export function openPool(
  url: string,
  options: { schema: string | undefined; maxConnections: number | undefined; log: Logger },
): pg.Pool {
  const { schema, log } = options;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    // Client-side guard for a server that stops answering (the statement_timeout is server-side).
    query_timeout: STATEMENT_TIMEOUT_MS + 2000,
    keepAlive: true,
    application_name: schema ? `jitkey/${schema}`.slice(0, 63) : 'jitkey',
  });
  pool.on('error', (err) => {
    log.warn('store: an idle PostgreSQL connection failed; the pool will open a new one', { error: err });
  });
  return pool;
}

/** `postgres://host:port/db` without user or password, for messages. */
export function describe(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'the configured PostgreSQL URL';
  }
}

/** A ping that gets no answer within `ms` fails as `unavailable`, whatever the pool is doing. */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(storeFailure('answer a ping', new Error(`no answer within ${ms} ms (timeout)`))),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
    promise.catch(() => {}); // a late failure after the timeout is not unhandled
  }
}

/**
 * pg would send an invalid Date as the text `NaN` (deprecated; the server refuses it anyway):
 * refuse it before it leaves, as SQLite's row codec does, so only its own caller fails.
 */
export function refuseInvalidDates(values: readonly unknown[] | undefined): void {
  const index = values?.findIndex((v) => v instanceof Date && Number.isNaN(v.getTime())) ?? -1;
  if (index < 0) return;
  throw new JitkeyError('internal_error', 'the store was given an invalid value', {
    detail: `query parameter $${index + 1} is an invalid Date`,
  });
}

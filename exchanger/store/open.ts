/** `--store URL` → a Store: `sqlite:PATH` (embedded) or `postgres://…` (shared by instances). */
import type { Store, StoreOptions } from './types.js';

export const DEFAULT_STORE_URL = 'sqlite:./jitkey.db';

export type StoreLocation =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string; schema?: string };

const ACCEPTED =
  'use sqlite:PATH (e.g. sqlite:./jitkey.db, sqlite:/var/lib/jitkey/jitkey.db, sqlite::memory:) or postgres://USER@HOST:5432/DB (postgresql:// also works)';

export function parseStoreUrl(url: string): StoreLocation {
  if (/^postgres(ql)?:\/\//i.test(url)) return postgresLocation(url);
  if (/^sqlite:/i.test(url)) {
    // sqlite:PATH; the URL-like sqlite://PATH (sqlite:///abs/path) is read the same way.
    const path = url.slice('sqlite:'.length).replace(/^\/\//, '');
    if (path === '') throw new Error(`store URL 'sqlite:' names no file: ${ACCEPTED}`);
    return { kind: 'sqlite', path };
  }
  // Only the scheme is quoted back: the rest may hold a password.
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0];
  throw new Error(`unsupported store ${scheme ? `'${scheme}…'` : `'${url.slice(0, 40)}'`}: ${ACCEPTED}`);
}

export async function openStore(url: string = DEFAULT_STORE_URL, options: StoreOptions = {}): Promise<Store> {
  const location = parseStoreUrl(url);
  if (location.kind === 'sqlite') {
    const { openSqliteStore } = await import('./sqlite.js');
    return openSqliteStore(location.path, options);
  }
  const { openPostgresStore } = await import('./postgres.js');
  return openPostgresStore(location.url, {
    ...options,
    ...(location.schema !== undefined ? { schema: location.schema } : {}),
  });
}

/**
 * `postgres://…?schema=NAME`: jitkey's own parameter, the schema that holds its tables (created
 * if missing; default: the connection's search_path). It is taken out of the URL before the
 * rest goes to node-postgres, whose connection-string parameters (`sslmode`, …) apply as usual.
 */
function postgresLocation(url: string): StoreLocation {
  const q = url.indexOf('?');
  if (q < 0) return { kind: 'postgres', url };
  let schema: string | undefined;
  const rest = url
    .slice(q + 1)
    .split('&')
    .filter((pair) => {
      const [key = '', value = ''] = pair.split('=', 2);
      if (key !== 'schema') return true;
      try {
        schema = decodeURIComponent(value);
      } catch {
        throw new Error(`store URL: the schema parameter is not valid percent-encoding: '${value}'`);
      }
      return false;
    });
  const base = url.slice(0, q);
  return {
    kind: 'postgres',
    url: rest.length ? `${base}?${rest.join('&')}` : base,
    ...(schema !== undefined ? { schema } : {}),
  };
}

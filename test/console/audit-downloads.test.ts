/**
 * Audit downloads hold a store connection while they stream (PostgreSQL's pool has ten): a
 * process streams at most `MAX_DOWNLOADS` at once, and a download whose reader takes nothing for
 * a while is cut, so paused browsers cannot take the connections exchanges need. The pages run
 * behind a real HTTP server over the real PostgreSQL store (whose pool the downloads would hold);
 * the clients are raw HTTP requests that stop reading.
 */
import { createServer, get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { auditPages, MAX_DOWNLOADS } from '../../exchanger/console/audit-pages.js';
import { JitkeyError } from '../../exchanger/errors.js';
import { silentLogger } from '../../exchanger/log.js';
import { openStore } from '../../exchanger/store/open.js';
import type { Store } from '../../exchanger/store/types.js';
import { admin, dropSchema, newSchema, PG_URL } from '../store/pg-support.js';

const schema = newSchema();
let store: Store;
let base: string;
const close: Array<() => void> = [];
let stopServer = () => {};
/** Tens of megabytes: more than the kernel's socket buffers on both sides take. */
const ROWS = 8000;

beforeAll(async () => {
  store = await openStore(PG_URL, { schema, purgeIntervalMs: 0 });
  // Enough rows that a paused reader fills the socket buffers on both sides (megabytes).
  const reason = 'x'.repeat(4000);
  await Promise.all(
    Array.from({ length: ROWS }, (_, i) =>
      store.record({
        at: new Date(),
        requestId: `req_${i}`,
        event: 'exchange',
        outcome: 'denied',
        reason,
        claims: {},
      }),
    ),
  );
  const [, download] = auditPages({
    store,
    isAdmin: async () => true,
    log: silentLogger,
    now: () => new Date(),
    // Long enough that the third request below always comes while the first two still stream.
    downloadStallMs: 2000,
  });
  const who = { login: 'carol', id: '3', csrf: 'c', idHash: 'h' };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    Promise.resolve(download!.run({ req, res, url, params: [], who, form: undefined })).catch(
      (err: unknown) => {
        res.writeHead(err instanceof JitkeyError ? err.status : 500, {
          ...(err instanceof JitkeyError && err.retryAfter ? { 'retry-after': String(err.retryAfter) } : {}),
        });
        res.end((err as Error).message);
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/console/audit/export?format=jsonl`;
  stopServer = () => server.close();
}, 60_000);

afterAll(async () => {
  for (const c of close) c();
  stopServer();
  await store.close();
  await dropSchema(schema);
});

/** A download that reads its headers, then nothing: resolves the response, paused. */
const paused = () =>
  new Promise<IncomingMessage>((resolve, reject) => {
    const req = get(base, (res) => {
      res.pause();
      resolve(res);
    });
    req.on('error', reject);
    close.push(() => req.destroy());
  });

/** Reads the rest: `end` when the response was whole, `cut` when it closed before its end. */
const readRest = (res: IncomingMessage) =>
  new Promise<'end' | 'cut'>((resolve) => {
    res.on('close', () => resolve(res.complete ? 'end' : 'cut'));
    res.resume();
  });

it('streams at most MAX_DOWNLOADS at once; the next is told to come back', async () => {
  const held = await Promise.all(Array.from({ length: MAX_DOWNLOADS }, paused));
  expect(held.map((r) => r.statusCode)).toEqual(held.map(() => 200));
  const refused = await fetch(base);
  expect(refused.status).toBe(429);
  expect(refused.headers.get('retry-after')).toBe('60');
  expect(await refused.text()).toBe('Other audit downloads are running; try again in a minute.');
  // A download whose reader took nothing for the stall time is cut, and frees its place.
  let whole = '';
  await vi.waitFor(
    async () => {
      const r = await fetch(base);
      expect(r.status).toBe(200);
      whole = await r.text();
    },
    { timeout: 20_000, interval: 200 },
  );
  expect(whole.trimEnd().split('\n')).toHaveLength(ROWS);
  expect(await Promise.all(held.map(readRest))).toEqual(held.map(() => 'cut'));
  // The cut downloads gave their connections back: none is left inside its read transaction.
  const { rows } = await admin((c) =>
    c.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction'",
      [`jitkey/${schema}`],
    ),
  );
  expect(rows[0]?.n).toBe(0);
}, 30_000);

/**
 * `jitkey serve --workers 2` on SQLite with `JITKEY_SQLITE_WRITER=primary`: the primary holds the
 * one store and its workers call it there, so one process writes the file. A worker killed mid-load loses no grant it answered, and
 * a primary that dies takes its workers with it: none serves on without a store.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { sendOnOwnConnection } from '../support/own-connection.js';
import { type Stack, startStack } from '../support/stack.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

const twoWorkers = () =>
  startStack({ exchanger: { args: ['--workers', '2'], env: { JITKEY_SQLITE_WRITER: 'primary' } } });

/** An exchange on a connection of its own (the primary hands each new one to the next worker). */
async function exchange(s: Stack, token: string) {
  const { status, text } = await sendOnOwnConnection(
    s.exchanger.url,
    'POST',
    '/v1/exchange',
    { role: 'deploy' },
    { authorization: `Bearer ${token}` },
  );
  return { status, body: status === 200 || status === 401 ? JSON.parse(text) : text };
}

const workerPids = (s: Stack) =>
  readFileSync(`/proc/${s.exchanger.child.pid}/task/${s.exchanger.child.pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);

/** The files a process holds open, by path. */
function openFiles(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/${pid}/fd/${fd}`)];
    } catch {
      return []; // closed meanwhile
    }
  });
}

/** Running, and not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('jitkey serve --workers 2 on SQLite, JITKEY_SQLITE_WRITER=primary: one writer', () => {
  it('only the primary holds the database open; both workers serve, and a replay is refused across them', async () => {
    stack = await twoWorkers();
    const s = stack;
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push(await exchange(s, s.idp.mint()));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    const token = s.idp.mint();
    const [a, b] = await Promise.all([exchange(s, token), exchange(s, token)]);
    expect([a!.status, b!.status].sort()).toEqual([200, 401]);
    expect([a!.body.error, b!.body.error]).toContain('token_replayed');

    const db = s.exchanger.storePath!;
    expect(openFiles(s.exchanger.child.pid!)).toContain(db);
    const workers = workerPids(s);
    expect(workers).toHaveLength(2);
    for (const pid of workers) expect(openFiles(pid).filter((f) => f.startsWith(db))).toEqual([]);
    // Both workers served (each worker's log lines say which it is).
    const served = new Set(
      s.exchanger
        .output()
        .match(/"worker":\d[^\n]*"msg":"exchange/g)
        ?.map((l) => l.charAt('"worker":'.length)),
    );
    expect(served).toEqual(new Set(['1', '2']));
  });

  it('a worker killed mid-load loses no grant it answered: each has its lease and audit row', async () => {
    stack = await twoWorkers();
    const s = stack;
    const [victim] = workerPids(s);
    const tokens = Array.from({ length: 30 }, () => s.idp.mint());
    let killed = false;
    // A request its dead worker took is not answered at all: it counts as not granted.
    const unanswered = () => new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000).unref());
    const answers = await Promise.all(
      tokens.map((token) =>
        Promise.race([exchange(s, token), unanswered()]).then(
          (answer) => {
            if (answer?.status === 200 && !killed) {
              killed = true;
              process.kill(victim!, 'SIGKILL');
            }
            return answer;
          },
          () => undefined, // its worker died with the connection
        ),
      ),
    );
    expect(killed).toBe(true);
    const granted = answers.filter((x) => x?.status === 200).map((x) => x!.body.lease_id as string);
    expect(granted.length).toBeGreaterThan(0);
    await s.exchanger.stop();

    const raw = new Database(s.exchanger.storePath!, { readonly: true });
    const leases = new Set(raw.prepare('SELECT id FROM leases').pluck().all());
    const audited = new Set(
      raw
        .prepare("SELECT lease_id FROM audit WHERE event = 'exchange' AND outcome = 'allowed'")
        .pluck()
        .all(),
    );
    raw.close();
    for (const id of granted) {
      expect(leases.has(id)).toBe(true);
      expect(audited.has(id)).toBe(true);
    }
  }, 180_000);

  it('the workers end with their primary: killed, it leaves none serving without a store', async () => {
    stack = await twoWorkers();
    const s = stack;
    const workers = workerPids(s);
    expect(workers).toHaveLength(2);
    s.exchanger.signal('SIGKILL');
    await until(() => workers.every((pid) => !alive(pid)), 'the workers to exit');
  });
});

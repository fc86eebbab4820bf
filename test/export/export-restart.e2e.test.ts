/**
 * `jitkey export` as a real process (lib/), killed with SIGKILL in the middle of its stream and
 * started again: every audit row and activity event reaches the sink exactly once, checked by
 * event id against the tables, in SQLite and PostgreSQL.
 *
 * - HTTPS (TLS with the test CA, Splunk HEC envelopes and token): the intake answers 503 and
 *   429 with Retry-After along the way, and holds one request unanswered; the exporter is killed
 *   while it waits for that answer, rows keep arriving, and the restarted exporter sends the
 *   unacknowledged batch again and the rest.
 * - A file: killed at whatever moment it is writing; a batch written but not recorded is cut
 *   on restart, so the file holds each event once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { ActivityKey } from '../../exchanger/store/activity-types.js';
import { openStore } from '../../exchanger/store/open.js';
import type { Store } from '../../exchanger/store/types.js';
import { entry } from '../store/contract.js';
import { dropSchema, newSchema, PG_URL } from '../store/pg-support.js';
import { eventually } from '../support/eventually.js';
import { CLI } from '../support/paths.js';
import { startSiemStandin } from '../support/siem-standin.js';
import { HOSTS_PRELOAD, TEST_CA } from '../support/tls-front.js';

const dir = mkdtempSync(join(tmpdir(), 'jitkey-export-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const TOKEN = 'f3a9c1d2-hec-e2e-token-77b0';

interface Backend {
  name: string;
  open(): Promise<{ url: string; store: Store; ids(): Promise<string[]>; cleanup(): Promise<void> }>;
}

const BACKENDS: Backend[] = [
  {
    name: 'sqlite',
    async open() {
      const path = join(dir, `export-${Date.now()}.db`);
      const store = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 });
      return {
        url: `sqlite:${path}`,
        store,
        async ids() {
          // Audit rows are staged before they get their id; a read through the store moves them in.
          await store.queryAudit({ limit: 1 });
          const db = new Database(path, { readonly: true });
          try {
            return allIds(
              db.prepare<[], { id: number }>('SELECT id FROM audit').all(),
              db
                .prepare<[], { lease_id: string; event_id: string }>(
                  'SELECT lease_id, event_id FROM lease_activity',
                )
                .all(),
            );
          } finally {
            db.close();
          }
        },
        cleanup: () => store.close(),
      };
    },
  },
  {
    name: 'postgres',
    async open() {
      const schema = newSchema();
      const store = await openStore(PG_URL, { schema, purgeIntervalMs: 0 });
      return {
        url: `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`,
        store,
        async ids() {
          const client = new (await import('pg')).default.Client({ connectionString: PG_URL });
          await client.connect();
          try {
            const audit = await client.query<{ id: string }>(`SELECT id FROM "${schema}".audit`);
            const activity = await client.query<{ lease_id: string; event_id: string }>(
              `SELECT lease_id, event_id FROM "${schema}".lease_activity`,
            );
            return allIds(audit.rows, activity.rows);
          } finally {
            await client.end();
          }
        },
        async cleanup() {
          await store.close();
          await dropSchema(schema);
        },
      };
    },
  },
];

function allIds(
  audit: { id: number | string }[],
  activity: { lease_id: string; event_id: string }[],
): string[] {
  return [
    ...audit.map((r) => `audit-${r.id}`),
    ...activity.map((r) => `activity-${r.lease_id}-${r.event_id}`),
  ].sort();
}

/** `count` audit rows, written in groups (as concurrent requests would be). */
async function addRows(store: Store, from: number, count: number): Promise<void> {
  for (let i = 0; i < count; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, count - i) }, (_, j) =>
        store.record(
          entry({
            requestId: `r${from + i + j}`,
            at: new Date(Date.UTC(2026, 0, 1) + (from + i + j) * 1000),
          }),
        ),
      ),
    );
  }
}

async function addActivity(store: Store, leaseId: string, count: number): Promise<void> {
  const key: ActivityKey = {
    leaseId,
    provider: 'aws',
    keyId: `ASIA${leaseId.replace(/\W/g, '').toUpperCase()}`,
    account: '111122223333',
    region: 'us-east-1',
    windowStart: new Date(Date.UTC(2026, 0, 1)),
    windowEnd: new Date(Date.UTC(2026, 0, 2)),
    nextPollAt: new Date(Date.UTC(2026, 0, 1)),
    status: 'collecting',
  };
  await store.addActivityKey(key);
  await store.saveActivity(
    key,
    Array.from({ length: count }, (_, i) => ({
      leaseId,
      keyId: key.keyId,
      eventId: `${leaseId}-ev${i}`,
      at: new Date(Date.UTC(2026, 0, 1, 1, 0, i)),
      name: i % 2 ? 'GetObject' : 'PutObject',
      source: 's3.amazonaws.com',
      region: 'us-east-1',
      resources: [{ type: 'AWS::S3::Object', name: `bucket/${i}` }],
      readOnly: i % 2 === 1,
    })),
  );
}

/** Until `file` holds more than `bytes`. */
function grown(file: string, bytes: number, what: string): Promise<unknown> {
  return eventually(() => {
    try {
      return statSync(file).size > bytes ? true : undefined;
    } catch {
      return undefined;
    }
  }, what);
}

interface Exporter {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function exporter(args: string[], env: Record<string, string> = {}): Exporter {
  const child = spawn(process.execPath, [CLI, 'export', ...args], {
    env: { ...process.env, JITKEY_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  return {
    child,
    output: () => output,
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
}

describe.each(BACKENDS)('jitkey export survives SIGKILL ($name)', (backend) => {
  it('to HTTPS: no gap, no duplicate, the held batch sent again', { timeout: 180_000 }, async () => {
    const db = await backend.open();
    const siem = await startSiemStandin({
      tls: true,
      kind: 'splunk',
      token: TOKEN,
      plan: (n) =>
        n === 2
          ? { status: 503, retryAfter: '1' }
          : n === 4
            ? { status: 429, retryAfter: '1' }
            : n === 7
              ? 'hold'
              : 'ok',
    });
    try {
      await addRows(db.store, 0, 1500);
      await addActivity(db.store, 'lease-one', 40);
      const args = [
        '--store',
        db.url,
        '--to',
        siem.url,
        '--body',
        'splunk-hec',
        '--header-env',
        'Authorization=HEC_AUTH',
        '--batch',
        '200',
        '--follow',
        '--poll',
        '1s',
      ];
      const env = {
        HEC_AUTH: `Splunk ${TOKEN}`,
        NODE_EXTRA_CA_CERTS: TEST_CA,
        NODE_OPTIONS: `--require ${HOSTS_PRELOAD}`,
      };
      const first = exporter(args, env);
      await siem.held();
      first.child.kill('SIGKILL');
      await first.exited;
      siem.releaseHeld(false); // the connection is gone: never acknowledged
      const before = siem.acknowledged.length;
      expect(before).toBeGreaterThan(0);

      // Rows keep coming while the exporter is down.
      await addRows(db.store, 1500, 500);
      await addActivity(db.store, 'lease-two', 10);
      const expected = await db.ids();
      const second = exporter(args, env);
      await eventually(
        () => (siem.acknowledged.length >= expected.length ? true : undefined),
        'every event',
        1200,
      );
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);

      const sent = siem.acknowledged.map((e) => (e.metadata as { uid: string }).uid);
      expect(sent.length).toBe(expected.length); // no duplicate
      expect([...sent].sort()).toEqual(expected); // no gap
      expect(siem.answers.slice(0, 7)).toEqual([200, 503, 200, 429, 200, 200, 'hold']);
      expect(first.output() + second.output()).not.toContain(TOKEN);
    } finally {
      await siem.stop();
      await db.cleanup();
    }
  });
});

describe('jitkey export to a file survives SIGKILL (sqlite)', () => {
  it('holds each event once after a kill at any moment', { timeout: 180_000 }, async () => {
    const db = await BACKENDS[0]!.open();
    const file = join(dir, 'audit.jsonl');
    try {
      await addRows(db.store, 0, 6000);
      const args = ['--store', db.url, '--to', `file:${file}`, '--format', 'cloudevents', '--batch', '50'];
      const first = exporter(args);
      await grown(file, 50_000, 'the file to grow');
      first.child.kill('SIGKILL');
      await first.exited;
      const partial = readFileSync(file, 'utf8').split('\n').filter(Boolean).length;

      await addRows(db.store, 6000, 200);
      const second = exporter(args);
      expect(await second.exited).toBe(0);
      const ids = readFileSync(file, 'utf8')
        .trimEnd()
        .split('\n')
        .map((line) => (JSON.parse(line) as { id: string }).id);
      const expected = await db.ids();
      expect(partial).toBeLessThan(expected.length); // it was killed mid-stream
      expect(ids.length).toBe(expected.length);
      expect([...ids].sort()).toEqual(expected);
    } finally {
      await db.cleanup();
    }
  });
});

describe('two exporters of one cursor on one host (sqlite)', () => {
  it('the second waits for the first, as one on another host would', { timeout: 120_000 }, async () => {
    const db = await BACKENDS[0]!.open();
    const file = join(dir, 'held.jsonl');
    const following = exporter([
      '--store',
      db.url,
      '--to',
      `file:${file}`,
      '--name',
      'shared',
      '--follow',
      '--poll',
      '1s',
    ]);
    try {
      await addRows(db.store, 0, 50);
      await grown(file, 0, 'the first exporter to write');
      const second = exporter([
        '--store',
        db.url,
        '--to',
        `file:${join(dir, 'other.jsonl')}`,
        '--name',
        'shared',
      ]);
      expect(await second.exited).toBe(1);
      expect(second.output()).toContain("the export cursor 'shared' is held by another exporter");
    } finally {
      following.child.kill('SIGTERM');
      await following.exited;
      await db.cleanup();
    }
  });
});

/**
 * `jitkey serve --workers 2`: one socket, two worker processes on one SQLite file. Exchanges land
 * on both, a token is single-use across them, SIGHUP reloads both or neither, SIGTERM drains
 * both, and `/metrics` is the sum over every process whichever worker answers it.
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ExchangerProcess, runCli, startExchanger } from '../support/exchanger-process.js';
import { sendOnOwnConnection } from '../support/own-connection.js';
import { type TestDatabase, testDatabase } from '../support/pg.js';
import { policyFor, type Stack, startStack } from '../support/stack.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

const twoWorkers = () => startStack({ exchanger: { args: ['--workers', '2'] } });

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers, read field by field as the spec shapes them
  body: any;
}

/**
 * One request on a connection of its own: the primary hands each new connection to the next
 * worker, so fresh connections spread over the workers (fetch's pooled ones would not).
 */
async function send(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const { status, text, headers: got } = await sendOnOwnConnection(base, method, path, body, headers);
  const json = got['content-type']?.includes('json');
  return { status, body: json && text ? JSON.parse(text) : text };
}

const exchange = (s: Stack, token: string, role = 'deploy') =>
  send(s.exchanger.url, 'POST', '/v1/exchange', { role }, { authorization: `Bearer ${token}` });
const metricsText = async (s: Stack) => (await send(s.exchanger.url, 'GET', '/metrics')).body as string;

/**
 * Which worker wrote the log line naming `field: value` (every worker line says `worker`). The
 * line is written just after the answer is sent, so it is waited for.
 */
async function workerOf(s: Stack, field: string, value: string): Promise<number> {
  let found: number | undefined;
  await until(() => {
    for (const line of s.exchanger.output().split('\n')) {
      const worker = line.includes(`"${field}":"${value}"`) && /"worker":(\d+)/.exec(line)?.[1];
      if (worker) found = Number(worker);
    }
    return found !== undefined;
  }, `the log line with ${field} ${value}`);
  return found!;
}
const workersOf = (s: Stack, answers: Answer[]) =>
  Promise.all(answers.map((a) => workerOf(s, 'lease_id', a.body.lease_id)));

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function sample(text: string, series: string): number | undefined {
  const escaped = series.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

describe('jitkey serve --workers 2', () => {
  it('answers exchanges from both workers, one listening line for the group', async () => {
    stack = await twoWorkers();
    const s = stack;
    const answers = [];
    for (let i = 0; i < 12; i++) answers.push(await exchange(s, s.idp.mint()));
    expect(answers.map((a) => a.status)).toEqual(Array(12).fill(200));
    expect(new Set(await workersOf(s, answers))).toEqual(new Set([1, 2]));
    const listening = s.exchanger.output().match(/"msg":"listening"[^\n]*/g) ?? [];
    expect(listening).toHaveLength(1);
    expect(listening[0]).toContain('"workers":2');
  });

  it('lets a token through once across workers: sent to both at once, one 200 and one token_replayed', async () => {
    stack = await twoWorkers();
    const s = stack;
    let crossed = 0;
    for (let round = 0; round < 20; round++) {
      const token = s.idp.mint();
      const [a, b] = await Promise.all([exchange(s, token), exchange(s, token)]);
      const answers = [a!, b!];
      expect(answers.map((x) => x.status).sort()).toEqual([200, 401]);
      const ok = answers.find((x) => x.status === 200)!;
      const replayed = answers.find((x) => x.status === 401)!;
      expect(replayed.body.error).toBe('token_replayed');
      const w200 = await workerOf(s, 'lease_id', ok.body.lease_id);
      const w401 = await workerOf(s, 'request_id', replayed.body.request_id);
      if (w200 !== w401) crossed++;
    }
    // The race was between processes, not inside one: most pairs were split across the workers.
    expect(crossed).toBeGreaterThan(0);
    expect(s.sts.issued).toHaveLength(20);
  });

  it('SIGHUP reloads every worker, and a refused policy is refused by all: counted once each', async () => {
    stack = await twoWorkers();
    const s = stack;
    const staging = () => s.idp.mint({ environment: 'staging' });
    const onBoth = async () => Promise.all([1, 2, 3, 4].map(() => exchange(s, staging())));
    expect((await onBoth()).map((a) => a.status)).toEqual([403, 403, 403, 403]);

    writeFileSync(
      s.exchanger.policyPath,
      policyFor(s.idp.url).replace('environment: production', 'environment: staging'),
    );
    s.exchanger.signal('SIGHUP');
    await until(() => s.exchanger.output().includes('policy reloaded'), 'the reload');
    const afterReload = await onBoth();
    expect(afterReload.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(new Set(await workersOf(s, afterReload))).toEqual(new Set([1, 2]));

    writeFileSync(s.exchanger.policyPath, 'version: 1\nroles:\n  broken: { provider: aws }\n');
    s.exchanger.signal('SIGHUP');
    await until(() => s.exchanger.output().includes('policy reload refused'), 'the refusal');
    expect(s.exchanger.output()).toMatch(/policy reload refused[^\n]*policy\.yaml:\d+:\d+/);
    expect(s.exchanger.output().match(/policy reload refused/g)).toHaveLength(1);
    expect((await onBoth()).map((a) => a.status)).toEqual([200, 200, 200, 200]);

    const text = await metricsText(s);
    expect(sample(text, 'jitkey_policy_reloads_total{outcome="ok"}')).toBe(1);
    expect(sample(text, 'jitkey_policy_reloads_total{outcome="invalid"}')).toBe(1);
  });

  it('SIGTERM lets each worker finish its in-flight exchange, then the group exits 0', async () => {
    stack = await twoWorkers();
    const s = stack;
    expect((await exchange(s, s.idp.mint())).status).toBe(200); // warm up
    s.sts.setDelay(800);
    const inFlight = [exchange(s, s.idp.mint()), exchange(s, s.idp.mint())];
    await until(() => s.sts.requests.length === 3, 'both STS calls to start');
    s.exchanger.signal('SIGTERM');
    const answers = await Promise.all(inFlight);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(new Set(await workersOf(s, answers))).toEqual(new Set([1, 2]));
    expect(await s.exchanger.exited).toBe(0);
    const out = s.exchanger.output();
    // Each worker stopped, then the primary.
    expect(out.match(/"msg":"stopped"/g)).toHaveLength(3);
  });

  it('replaces a worker that dies, and keeps answering on both', async () => {
    stack = await twoWorkers();
    const s = stack;
    const children = readFileSync(
      `/proc/${s.exchanger.child.pid}/task/${s.exchanger.child.pid}/children`,
      'utf8',
    )
      .trim()
      .split(/\s+/)
      .map(Number);
    expect(children).toHaveLength(2);
    process.kill(children[0]!, 'SIGKILL');
    await until(() => s.exchanger.output().includes('a worker exited; starting another'), 'the replacement');
    await until(
      () => (s.exchanger.output().match(/"msg":"worker listening"/g) ?? []).length === 3,
      'it to listen',
    );
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await exchange(s, s.idp.mint()));
    expect(answers.map((a) => a.status)).toEqual(Array(6).fill(200));
    expect(new Set(await workersOf(s, answers))).toEqual(new Set([1, 2]));
  });

  it('/metrics sums every process, whichever worker answers', async () => {
    stack = await twoWorkers();
    const s = stack;
    const allowed = 7;
    const denied = 3;
    for (let i = 0; i < allowed; i++) expect((await exchange(s, s.idp.mint())).status).toBe(200);
    for (let i = 0; i < denied; i++)
      expect((await exchange(s, s.idp.mint({ environment: 'dev' }))).status).toBe(403);

    // Every scrape, on a fresh connection (so on either worker), gives the same sums.
    for (let i = 0; i < 4; i++) {
      const text = await metricsText(s);
      expect(sample(text, 'jitkey_decisions_total{role="deploy",outcome="allowed",code=""}')).toBe(allowed);
      expect(
        sample(text, 'jitkey_decisions_total{role="deploy",outcome="denied",code="access_denied"}'),
      ).toBe(denied);
      expect(sample(text, 'jitkey_upstream_request_seconds_count{provider="aws",outcome="ok"}')).toBe(
        allowed,
      );
      expect(
        sample(text, 'jitkey_upstream_request_seconds_bucket{le="+Inf",provider="aws",outcome="ok"}'),
      ).toBe(allowed);
      // prom-client's process metrics, over the primary and both workers.
      expect(sample(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
      expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
    }
    expect(s.sts.issued).toHaveLength(allowed);
    // Both workers answered exchanges, so the sums above really added two registries.
    const leases = s.exchanger.output().match(/"worker":\d[^\n]*"msg":"exchange"/g) ?? [];
    expect(new Set(leases.map((l) => l.charAt('"worker":'.length)))).toEqual(new Set(['1', '2']));
  });
});

describe('jitkey serve --workers 2 on PostgreSQL', () => {
  let db: TestDatabase | undefined;
  afterEach(async () => {
    // The exchanger goes before its schema does.
    await stack?.stop();
    stack = undefined;
    await db?.drop();
    db = undefined;
  });

  it('lets a token through once across workers, and records every grant once', async () => {
    db = await testDatabase();
    stack = await startStack({ exchanger: { store: db.storeUrl, args: ['--workers', '2'] } });
    const s = stack;
    for (let round = 0; round < 10; round++) {
      const token = s.idp.mint();
      const answers = await Promise.all([exchange(s, token), exchange(s, token)]);
      expect(answers.map((x) => x.status).sort()).toEqual([200, 401]);
    }
    const [{ n }] = (await db.query<{ n: string }>('SELECT count(*) AS n FROM leases')) as [{ n: string }];
    expect(Number(n)).toBe(10);
    expect(s.sts.issued).toHaveLength(10);
  });
});

describe('jitkey serve without --workers: the default fits the store', () => {
  let db: TestDatabase | undefined;
  let ex: ExchangerProcess | undefined;
  afterEach(async () => {
    await ex?.stop();
    ex = undefined;
    await db?.drop();
    db = undefined;
  });
  const listening = (p: ExchangerProcess) => JSON.parse(/^.*"msg":"listening".*$/m.exec(p.output())![0]);

  it('runs one process on SQLite, where a second worker has not paid for itself', async () => {
    ex = await startExchanger({ policy: policyFor('https://token.example'), defaultWorkers: true });
    // One process: its listening line is its own, with no worker count (a primary's has one).
    expect(listening(ex)).not.toHaveProperty('workers');
    expect(ex.output()).not.toMatch(/"worker":\d/);
  });

  it('runs one worker per CPU on PostgreSQL', async () => {
    db = await testDatabase();
    ex = await startExchanger({
      policy: policyFor('https://token.example'),
      store: db.storeUrl,
      defaultWorkers: true,
    });
    const cpus = availableParallelism();
    expect(listening(ex).workers).toBe(cpus > 1 ? cpus : undefined);
  });
});

describe('jitkey serve --workers: bad values say what to change', () => {
  it.each([
    {
      name: 'zero',
      args: ['--workers', '0'],
      message: /--workers \(or JITKEY_WORKERS\) must be a whole number from 1 to 256, got '0'/,
    },
    {
      name: 'not a number',
      args: ['--workers', 'all'],
      message: /--workers \(or JITKEY_WORKERS\) must be a whole number/,
    },
    {
      name: 'an in-memory store',
      args: ['--workers', '2', '--store', 'sqlite::memory:'],
      message:
        /sqlite::memory: is private to one process.*use a file \(sqlite:\.\/jitkey\.db\) or --workers 1/,
    },
  ])('$name', async ({ args, message }) => {
    const { code, stderr } = await runCli(['serve', '--policy', 'unused.yaml', ...args]);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });
});

describe('jitkey serve --workers 2 that cannot start', () => {
  it('a port already in use: the reason once per worker, and the group exits 1 (it hung before)', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-cluster-'));
    try {
      const policy = join(dir, 'policy.yaml');
      writeFileSync(policy, readFileSync(new URL('../fixtures/policies/spec-example.yaml', import.meta.url)));
      const args = ['serve', '--policy', policy, '--port', String(port), '--workers', '2'];
      const { code, stderr } = await runCli([...args, '--store', `sqlite:${join(dir, 'j.db')}`]);
      expect(code).toBe(1);
      expect(stderr).toContain(`EADDRINUSE 127.0.0.1:${port}`);
      expect(stderr).toMatch(/worker \d exited \(code 1\) before it listened/);
    } finally {
      taken.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Several `jitkey serve` processes on one PostgreSQL schema, for the scale-out tests: one test
 * issuer and one STS stand-in shared by every instance, a load loop that records each answer,
 * and the store's ledger read back with SQL.
 *
 *   const c = await startCluster({ instances: 2 });
 *   const jobs = Array.from({ length: 100 }, (_, i) => ({ instance: i % 2, token: c.idp.mint() }));
 *   const { results } = await runLoad(c, jobs, { concurrency: 50 });
 *   const ledger = await readLedger(c.db);
 *   await c.stop();
 */
import { loadavg } from 'node:os';
import { type ExchangerProcess, startExchanger } from './exchanger-process.js';
import { type OidcIssuer, startOidcIssuer } from './oidc-issuer.js';
import { type TestDatabase, testDatabase } from './pg.js';
import { policyFor, STS_KEY, stsEnv } from './stack.js';
import { type StsStandin, type StsStandinOptions, startStsStandin } from './sts-standin.js';

export interface Cluster {
  idp: OidcIssuer;
  sts: StsStandin;
  db: TestDatabase;
  instances: ExchangerProcess[];
  /** Stops whatever still runs (a killed instance is already gone) and drops the schema. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  instances?: number;
  /** The store URL each instance gets; default the test schema on the real server. */
  storeUrl?: (db: TestDatabase) => string;
  sts?: Partial<StsStandinOptions>;
  env?: Record<string, string>;
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const db = await testDatabase();
  const idp = await startOidcIssuer();
  const sts = await startStsStandin({ ...STS_KEY, ...options.sts });
  const policy = policyFor(idp.url);
  const store = (options.storeUrl ?? ((d) => d.storeUrl))(db);
  // Started together, so the instances also race for the schema migration (advisory lock).
  const started = await Promise.allSettled(
    Array.from({ length: options.instances ?? 2 }, () =>
      startExchanger({
        policy,
        store,
        env: { ...stsEnv(sts), JITKEY_LOG_LEVEL: 'info', ...options.env },
      }),
    ),
  );
  const failure = started.find((s) => s.status === 'rejected');
  if (failure) {
    // Leave nothing behind: the instances that did start, the stand-ins, the schema.
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
    await Promise.all([idp.stop(), sts.stop()]);
    await db.drop();
    throw failure.reason;
  }
  const instances = started.map((s) => (s as PromiseFulfilledResult<ExchangerProcess>).value);
  return {
    idp,
    sts,
    db,
    instances,
    async stop() {
      await Promise.all(instances.map((i) => i.stop()));
      await Promise.all([idp.stop(), sts.stop()]);
      await db.drop();
    },
  };
}

/** One request of a load run. */
export interface Job {
  instance: number;
  token: string;
  body?: unknown;
}

export interface Result {
  job: Job;
  instance: number;
  /** The HTTP status, or 0 when the request failed at the client (refused, reset). */
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: answers are inspected field by field
  body: any;
  /** Why it failed at the client, when status is 0. */
  error?: string;
  /** performance.now() at start and end. */
  start: number;
  end: number;
}

/** POST /v1/exchange to one instance; never throws (a network failure is status 0). */
export async function exchangeOn(
  instance: ExchangerProcess,
  token: string,
  body: unknown = { role: 'deploy' },
): Promise<Omit<Result, 'job' | 'instance'>> {
  const start = performance.now();
  try {
    const res = await fetch(`${instance.url}/v1/exchange`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, start, end: performance.now() };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const error = cause?.code ?? cause?.message ?? String(err);
    return { status: 0, body: undefined, error, start, end: performance.now() };
  }
}

export async function readyz(instance: ExchangerProcess): Promise<number> {
  try {
    return (await fetch(`${instance.url}/readyz`, { signal: AbortSignal.timeout(10_000) })).status;
  } catch {
    return 0;
  }
}

/**
 * Sends `jobs` in order, `concurrency` at a time, each to its instance. `onResult` sees every
 * answer as it arrives (to trigger a fault mid-run).
 */
export async function runLoad(
  cluster: Pick<Cluster, 'instances'>,
  jobs: Job[],
  options: { concurrency: number; onResult?: (r: Result, done: number) => void },
): Promise<{ results: Result[]; seconds: number }> {
  const results: Result[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      const r = await exchangeOn(cluster.instances[job.instance]!, job.token, job.body);
      const result = { job, instance: job.instance, ...r };
      results.push(result);
      options.onResult?.(result, results.length);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return { results, seconds: (performance.now() - started) / 1000 };
}

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return Number.NaN;
  const i = Math.min(sortedMs.length - 1, Math.ceil((p / 100) * sortedMs.length) - 1);
  return sortedMs[Math.max(0, i)]!;
}

/** Throughput and latency of a run, for the log (asserted on by nothing: this is not a benchmark). */
export function figures(results: Result[], seconds: number) {
  const ms = results.map((r) => r.end - r.start).sort((a, b) => a - b);
  const ok = results.filter((r) => r.status === 200).length;
  return {
    requests: results.length,
    ok,
    seconds: Number(seconds.toFixed(2)),
    exchangesPerSecond: Math.round(results.length / seconds),
    p50Ms: Number(percentile(ms, 50).toFixed(1)),
    p99Ms: Number(percentile(ms, 99).toFixed(1)),
    /** The machine's 1-minute load average: other work competes for the same cores. */
    loadavg: Number(loadavg()[0]!.toFixed(2)),
  };
}

export interface LeaseRow {
  id: string;
  run_id: string | null;
}

export interface AuditRow {
  request_id: string;
  event: string;
  outcome: string;
  error_code: string | null;
  lease_id: string | null;
  run_id: string | null;
}

/** What the store holds, read directly with SQL in the test's schema. */
export interface Ledger {
  leases: LeaseRow[];
  audit: AuditRow[];
  leaseById: Map<string, LeaseRow[]>;
  /** 'allowed' exchange rows by lease id. */
  grantsByLease: Map<string, AuditRow[]>;
  auditByRequest: Map<string, AuditRow[]>;
  leasesByRun: Map<string, LeaseRow[]>;
  usedJtis: number;
}

function group<T>(rows: T[], key: (row: T) => string | null): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    if (k === null) continue;
    const list = map.get(k);
    if (list) list.push(row);
    else map.set(k, [row]);
  }
  return map;
}

export async function readLedger(db: TestDatabase): Promise<Ledger> {
  const leases = await db.query<LeaseRow>('SELECT id, run_id FROM leases');
  const audit = await db.query<AuditRow>(
    "SELECT request_id, event, outcome, error_code, lease_id, claims->>'run_id' AS run_id FROM audit",
  );
  const [{ n }] = (await db.query<{ n: string }>('SELECT count(*) AS n FROM used_jtis')) as [{ n: string }];
  return {
    leases,
    audit,
    leaseById: group(leases, (l) => l.id),
    grantsByLease: group(
      audit.filter((a) => a.event === 'exchange' && a.outcome === 'allowed'),
      (a) => a.lease_id,
    ),
    auditByRequest: group(audit, (a) => a.request_id),
    leasesByRun: group(leases, (l) => l.run_id),
    usedJtis: Number(n),
  };
}

/**
 * Nothing half-written: every lease has exactly one 'allowed' audit row and every such row its
 * lease; no lease id, and no request id, appears twice. Returns the problems found.
 */
export function halfWritten(ledger: Ledger): string[] {
  const problems: string[] = [];
  for (const [id, rows] of ledger.leaseById) {
    if (rows.length !== 1) problems.push(`lease ${id} stored ${rows.length} times`);
    const grants = ledger.grantsByLease.get(id)?.length ?? 0;
    if (grants !== 1) problems.push(`lease ${id} has ${grants} 'allowed' audit rows`);
  }
  for (const id of ledger.grantsByLease.keys()) {
    if (!ledger.leaseById.has(id)) problems.push(`audit grants lease ${id}, which is not stored`);
  }
  for (const [id, rows] of ledger.auditByRequest) {
    if (rows.length !== 1) problems.push(`request ${id} has ${rows.length} audit rows`);
  }
  return problems;
}

/** Every 200 has its lease and its 'allowed' audit row; every refusal (4xx, 5xx but 503) its audit row. */
export function unrecorded(ledger: Ledger, results: Result[]): string[] {
  const problems: string[] = [];
  for (const r of results) {
    if (r.status === 200) {
      const id = r.body.lease_id as string;
      if (ledger.leaseById.get(id)?.length !== 1) problems.push(`200 for lease ${id}: no lease row`);
      if (ledger.grantsByLease.get(id)?.length !== 1) problems.push(`200 for lease ${id}: no audit row`);
    } else if (r.status !== 0 && r.status !== 503) {
      const rows = ledger.auditByRequest.get(r.body.request_id) ?? [];
      if (rows.length !== 1 || rows[0]!.error_code !== r.body.error) {
        problems.push(`${r.status} ${r.body.error} (${r.body.request_id}): ${rows.length} audit rows`);
      }
    }
  }
  return problems;
}

/** A token per job, each from its own run (`run_id` tells the leases of different tokens apart). */
export function freshToken(idp: OidcIssuer, n: number, overrides: Record<string, unknown> = {}): string {
  return idp.mint({ run_id: String(1_000_000 + n), ...overrides });
}

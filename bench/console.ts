/**
 * Section 9, the console (issue 20): with 10,000 pending approval requests and 1,200,000 audit
 * rows in SQLite, the p95 server time (request in → response finished, inside the process) of the
 * queue page, a request page and audit pages, each against a goal of 50 ms; the plan SQLite picks
 * for the audit pages; and exchange throughput of `jitkey serve` with the console configured but
 * unused, against the same with `--no-console`.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { ApprovalDeps } from '../exchanger/approvals/context.js';
import { createApprovals } from '../exchanger/approvals/service.js';
import { createConsole } from '../exchanger/console/console.js';
import { hashSecret } from '../exchanger/digest.js';
import { silentLogger } from '../exchanger/log.js';
import { loadPolicy } from '../exchanger/policy/load/load-policy.js';
import { createMetrics } from '../exchanger/server/metrics.js';
import type { ApprovalRequestRecord } from '../exchanger/store/approvals-types.js';
import { rowsFor } from '../exchanger/store/dialect-rows.js';
import { openStore } from '../exchanger/store/open.js';
import type { Store } from '../exchanger/store/types.js';
import { githubAppEnv, startGithubStandin } from '../test/support/github-standin.js';
import type { HttpContext } from './exchange.js';
import { runLoad } from './load.js';
import { startExchangerProcess } from './processes.js';
import { type Row, row } from './report.js';
import { percentile } from './stats.js';
import { tokenRecipe } from './tokens.js';

const AUDIT_ROWS = Number(process.env.BENCH_CONSOLE_AUDIT_ROWS ?? 1_200_000);
const PENDING = Number(process.env.BENCH_CONSOLE_PENDING ?? 10_000);
const SAMPLES = 200;
const GOAL_MS = 50;
const PROVIDERS = ['aws', 'gcp', 'github', 'kubernetes'];
const OUTCOMES = ['allowed', 'allowed', 'allowed', 'denied', 'revoked'];

const POLICY = `version: 1
issuers: [{ url: https://token.actions.githubusercontent.com, audience: jitkey }]
admins: [alice]
roles:
  db-admin:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/db" }
    approval: { approvers: [alice], timeout: 30m }
    allow:
      - { repository_id: "123456" }
`;

/** 1.2 M rows over the last ~33 hours: 50 repositories, four providers, an approver now and then. */
function fillAudit(path: string, rows: number, now: number): void {
  const db = new Database(path);
  const insert = db.prepare(
    `INSERT INTO audit (at, request_id, event, outcome, role, provider, reason, repository, claims, lease_id, expires_at, actor, actor_id)
     VALUES (?, ?, ?, ?, 'deploy', ?, 'granted for 15m', ?, ?, ?, ?, ?, ?)`,
  );
  const claims = JSON.stringify({
    repository_id: '123456',
    ref: 'refs/heads/main',
    event_name: 'push',
    run_id: '9876543210',
    run_attempt: '1',
  });
  const t0 = now - rows * 100;
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const at = t0 + i * 100;
      const decided = i % 97 === 0;
      insert.run(
        at,
        `req_b${i}`,
        decided ? 'approve' : 'exchange',
        OUTCOMES[i % OUTCOMES.length],
        PROVIDERS[i % PROVIDERS.length],
        `acme/repo-${i % 50}`,
        claims,
        `lease_${i}`,
        at + 900_000,
        decided ? `approver-${i % 20}` : null,
        decided ? String(i % 20) : null,
      );
    }
  });
  for (let from = 0; from < rows; from += 50_000) batch(from, Math.min(rows, from + 50_000));
  db.close();
}

async function fillPending(store: Store, count: number, now: number): Promise<string[]> {
  const ids: string[] = [];
  for (let from = 0; from < count; from += 1000) {
    const batch: Promise<void>[] = [];
    for (let i = from; i < Math.min(count, from + 1000); i++) {
      const id = `req_p${String(i).padStart(6, '0')}`;
      ids.push(id);
      const request: ApprovalRequestRecord = {
        id,
        role: 'db-admin',
        version: 1,
        status: 'pending',
        pollTokenHash: hashSecret(id),
        createdAt: new Date(now - (count - i) * 100),
        expiresAt: new Date(now + 30 * 60_000),
        approvals: [],
        approvers: ['alice'],
        required: 1,
        claims: {
          repository: `acme/repo-${i % 50}`,
          repository_id: '123456',
          ref: 'refs/heads/main',
          event_name: 'push',
          actor: 'octocat',
          actor_id: '1',
          run_id: String(5_000_000 + i),
          run_attempt: '1',
          job_workflow_ref: 'acme/web/.github/workflows/deploy.yml@refs/heads/main',
          job_workflow_sha: 'a'.repeat(40),
        },
      };
      batch.push(
        store.createApprovalRequest(request, {
          at: request.createdAt,
          requestId: id,
          event: 'approval_request',
          outcome: 'pending',
          role: 'db-admin',
          provider: 'aws',
          reason: 'waiting for approval',
          claims: request.claims,
        }),
      );
    }
    await Promise.all(batch);
  }
  return ids;
}

/** The console in this process, its server time per request measured from request to finish. */
async function consoleServer(
  store: Store,
  now: () => Date,
): Promise<{ url: string; server: Server; times: number[] }> {
  const policy = loadPolicy(POLICY, 'policy.yaml');
  const github = {
    getUser: async () => ({ login: 'alice', id: 1001 }),
    isTeamMember: async () => false,
    getRunAttempt: async () => ({ triggeringActorId: '1' }),
  };
  const deps = { policy: () => policy, store, github, log: silentLogger, now, metrics: createMetrics() };
  const approvals = createApprovals(deps as unknown as ApprovalDeps);
  const routes = createConsole({
    config: {
      clientId: 'bench',
      clientSecret: 'bench',
      origin: 'http://127.0.0.1',
      redirectUri: 'http://127.0.0.1/console/auth/callback',
      githubWebUrl: 'https://github.com',
    },
    approvals,
    store,
    github: github as never,
    policy: () => policy,
    log: silentLogger,
    now,
    admin: { github: github as never, store, providers: {} },
  });
  const times: number[] = [];
  const server = createServer((req, res) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => times.push(Number(process.hrtime.bigint() - started) / 1e6));
    void routes(req, res, 'req_bench').then((handled) => {
      if (!handled) res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, times };
}

/** p95 of the server time of `SAMPLES` sequential GETs of `path` (after a few to warm up). */
async function p95(
  c: { url: string; times: number[] },
  cookie: string,
  path: string,
): Promise<{ p95: number; p50: number; bytes: number }> {
  let bytes = 0;
  const get = async () => {
    const res = await fetch(`${c.url}${path}`, { headers: { cookie } });
    const body = await res.arrayBuffer();
    if (res.status !== 200)
      throw new Error(`${path}: ${res.status} ${Buffer.from(body).toString('utf8').slice(0, 300)}`);
    bytes = body.byteLength;
  };
  for (let i = 0; i < 10; i++) await get();
  c.times.length = 0;
  for (let i = 0; i < SAMPLES; i++) await get();
  const sorted = Float64Array.from(c.times).sort();
  return { p95: percentile(sorted, 95), p50: percentile(sorted, 50), bytes };
}

function auditPlan(path: string): string {
  const db = new Database(path, { readonly: true });
  const rows = rowsFor({
    times: { encode: (d: Date) => d.getTime(), decode: (v: number) => new Date(v) },
    param: () => '?',
    repositoryEquals: (p) => `repository = ${p}`,
    actorEquals: (p) => `actor = ${p} COLLATE NOCASE`,
  });
  const plans = [
    { name: 'no filter', filter: {} },
    { name: 'repository+outcome', filter: { repository: 'acme/repo-8', outcome: 'denied' as const } },
    { name: 'provider', filter: { provider: 'github' } },
    { name: 'approver', filter: { decidedBy: { login: 'approver-3', id: '3' } } },
  ].map(({ name, filter }) => {
    const { sql, params } = rows.auditPage('audit', filter, { limit: 51 });
    const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>;
    return `${name}: ${plan.map((p) => p.detail).join('; ')}`;
  });
  db.close();
  return plans.join(' | ');
}

export async function benchConsole(ctx: HttpContext): Promise<Row[]> {
  const rows: Row[] = [];
  const path = join(ctx.dir, 'console.db');
  const nowMs = Date.now();
  const now = () => new Date();
  (await openStore(`sqlite:${path}`, { log: silentLogger, purgeIntervalMs: 0 })).close();
  ctx.log(`9 filling ${AUDIT_ROWS} audit rows`);
  fillAudit(path, AUDIT_ROWS, nowMs - 60_000);
  const store = await openStore(`sqlite:${path}`, { log: silentLogger, purgeIntervalMs: 0 });
  try {
    ctx.log(`9 opening ${PENDING} pending approval requests`);
    const ids = await fillPending(store, PENDING, nowMs);
    const sessionId = randomBytes(32).toString('base64url');
    await store.createSession({
      idHash: hashSecret(sessionId),
      login: 'alice',
      userId: '1001',
      createdAt: new Date(),
      expiresAt: new Date(Date.now() + 3_600_000),
      absoluteExpiresAt: new Date(Date.now() + 3_600_000),
    });
    const cookie = `__Host-jitkey_session=${sessionId}`;
    const c = await consoleServer(store, now);
    try {
      const pages: Array<[string, string]> = [
        [`queue page (${PENDING.toLocaleString('en-US')} pending)`, '/console/'],
        ['request page', `/console/requests/${ids[Math.floor(ids.length / 2)]}`],
        ['audit page, newest rows', '/console/audit'],
        ['audit page, repository + outcome', '/console/audit?repository=acme/repo-8&outcome=denied'],
        // Worst case: two filters together that no row matches walk one filter's whole index range.
        [
          'audit page, repository + outcome matching nothing',
          '/console/audit?repository=acme/repo-7&outcome=denied',
        ],
        ['audit page, an approver\u2019s rows', '/console/audit?actor=approver-3'],
      ];
      for (const [figure, url] of pages) {
        ctx.log(`9 ${figure}`);
        const m = await p95(c, cookie, url);
        rows.push(
          row(9, `console ${figure}: server time p95`, m.p95, 'ms', {
            goal: { text: `≤ ${GOAL_MS} ms`, met: m.p95 <= GOAL_MS },
            note: `p50 ${m.p50.toFixed(2)} ms, ${m.bytes} bytes, ${SAMPLES} sequential requests; ${AUDIT_ROWS} audit rows, ${PENDING} pending requests in SQLite`,
          }),
        );
      }
      const last = rows.at(-1)!;
      last.note = `${last.note}. Plans: ${auditPlan(path)}`;
    } finally {
      await new Promise((r) => c.server.close(r));
    }
  } finally {
    await store.close();
  }
  rows.push(...(await consoleThroughput(ctx)));
  return rows;
}

/** Exchanges per second, console configured but unused vs `--no-console`, alternated twice. */
async function consoleThroughput(ctx: HttpContext): Promise<Row[]> {
  const gh = await startGithubStandin({});
  const recipe = tokenRecipe(ctx.idp, ctx.key);
  const rate = async (withConsole: boolean, n: number): Promise<number> => {
    const dir = join(ctx.dir, `console-${withConsole ? 'on' : 'off'}-${n}`);
    mkdirSync(dir, { recursive: true });
    const ex = await startExchangerProcess({
      dir,
      policyPath: ctx.policyPath,
      env: {
        ...ctx.env,
        ...githubAppEnv(gh),
        JITKEY_GITHUB_APP_CLIENT_ID: 'Iv23libench',
        JITKEY_GITHUB_APP_CLIENT_SECRET: 'bench-secret',
        JITKEY_PUBLIC_URL: 'http://127.0.0.1:1',
      },
      ...(withConsole ? {} : { extraArgs: ['--no-console'] }),
    });
    try {
      const job = (amount: number) => ({
        kind: 'closed' as const,
        url: ex.url,
        path: '/v1/exchange',
        body: JSON.stringify({ role: 'deploy' }),
        tokens: { mode: 'preminted' as const, recipe, count: amount },
        connections: 32,
        timeoutS: 30,
        amount,
      });
      await runLoad(job(1000));
      const run = await runLoad(job(4000));
      if (run.ok !== 4000)
        throw new Error(`console ${withConsole ? 'on' : 'off'}: ${run.ok} of 4000 answered 200`);
      return run.rate;
    } finally {
      await ex.stop();
    }
  };
  try {
    const off: number[] = [];
    const on: number[] = [];
    for (let n = 0; n < 2; n++) {
      ctx.log(`9 exchange throughput, console off then on (${n + 1} of 2)`);
      off.push(await rate(false, n));
      on.push(await rate(true, n));
    }
    const best = (xs: number[]) => Math.max(...xs);
    return [
      row(9, 'exchange throughput, console on but unused', best(on), '/s', {
        baseline: { label: '--no-console', value: best(off) },
        goal: { text: 'nothing measurable (ratio ≈ 1)', met: best(on) / best(off) >= 0.9 },
        note: `best of 2 alternated runs of 4,000 exchanges each: on ${on.map((r) => r.toFixed(0)).join(', ')}/s, off ${off.map((r) => r.toFixed(0)).join(', ')}/s`,
      }),
    ];
  } finally {
    await gh.stop();
  }
}

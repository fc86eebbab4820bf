/**
 * `npm run bench`: every figure of the performance issue in one table, each against a baseline
 * measured in the same run (these machines are noisy: compare ratios across commits, not raw
 * numbers). Writes the table as JSON under bench/results/.
 *
 *   npm run bench                       # everything, about 5–7 minutes
 *   BENCH_ONLY=1,2 npm run bench        # some sections (11: two instances on PostgreSQL; 12: cost by load;
 *                                       # 13: an exchange's SQLite writes)
 *   BENCH_CPU_PROF=/tmp/prof npm run bench   # also write V8 CPU profiles of `jitkey serve`
 *   BENCH_KEEP=1 npm run bench          # keep the temporary directory (server logs, SQLite files)
 *   BENCH_JITKEY=/other/checkout/lib/exchanger/cli/main.js npm run bench   # measure another build
 *   BENCH_WORKERS=2 BENCH_ONLY=3,4,5 npm run bench   # two workers in every run of sections 3–5
 *   JITKEY_SQLITE_WRITER=primary BENCH_ONLY=3 npm run bench   # --workers N with the one SQLite writer
 *   NODE_CLUSTER_SCHED_POLICY=none BENCH_ONLY=3 npm run bench # the workers accept connections themselves
 *   (sections 3–5 measure latency on the store's default --workers, one process on SQLite:
 *   the last two change only section 3's N-worker throughput unless BENCH_WORKERS is set too)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, startOidcIssuer } from '../test/support/oidc-issuer.js';
import { REPO_ROOT } from '../test/support/paths.js';
import { policyFor, STS_KEY, stsEnv } from '../test/support/stack.js';
import { startStsStandin } from '../test/support/sts-standin.js';
import { benchAction } from './action.js';
import { benchConsole } from './console.js';
import { benchHttp, benchMemory, type HttpContext } from './exchange.js';
import { benchFloor } from './floor-section.js';
import { benchKubernetesAudit } from './kubernetes-audit.js';
import { benchLoadLevel } from './load-level.js';
import { benchPolicy } from './policy.js';
import { benchPostgres } from './postgres-section.js';
import { benchWorkers } from './processes.js';
import { benchRefresh } from './refresh.js';
import { fmt, type Row, renderTable } from './report.js';
import { benchStoreWriters } from './store-writers.js';
import { benchStoreWrites } from './store-writes.js';
import { benchVerify } from './verify.js';

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

function commit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'exchanger', 'bench'], {
      cwd: REPO_ROOT,
    })
      .toString()
      .trim();
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const only = process.env.BENCH_ONLY?.split(',').map(Number);
  const wanted = (section: number) => !only || only.includes(section);
  const cpuProfDir = process.env.BENCH_CPU_PROF;
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  const machine = {
    node: process.version,
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    loadavgAtStart: load(),
    /** The knobs that change what sections 3–5 measure. */
    settings: Object.fromEntries(
      ['BENCH_WORKERS', 'BENCH_STORE', 'JITKEY_SQLITE_WRITER', 'NODE_CLUSTER_SCHED_POLICY']
        .filter((name) => process.env[name] !== undefined)
        // A store URL may carry a password: only its scheme is kept.
        .map((name) => [name, name === 'BENCH_STORE' ? process.env[name]!.split(':')[0] : process.env[name]]),
    ),
  };
  log(
    `node ${machine.node}, ${machine.cpus} × ${machine.cpu}, load average ${machine.loadavgAtStart}${Object.keys(machine.settings).length ? `, ${JSON.stringify(machine.settings)}` : ''}`,
  );

  const dir = mkdtempSync(join(tmpdir(), 'jitkey-bench-'));
  // The issuer publishes a key the bench holds, so the load generator can mint tokens as well.
  const key = generateSigningKey();
  const idp = await startOidcIssuer({ jwk: key.jwk });
  const sts = await startStsStandin({ ...STS_KEY, record: false });
  const policyPath = join(dir, 'policy.yaml');
  writeFileSync(policyPath, policyFor(idp.url));
  const ctx: HttpContext = {
    idp,
    key,
    sts,
    dir,
    policyPath,
    env: stsEnv(sts),
    log,
    ...(cpuProfDir ? { cpuProfDir } : {}),
  };

  const rows: Row[] = [];
  const failures: string[] = [];
  const sections: [number[], string, () => Promise<Row[]> | Row[]][] = [
    [[1], '1 token verification', () => benchVerify(idp, key)],
    [[2], '2 policy evaluation', () => benchPolicy()],
    [[3, 4, 5], '3–5 exchanges over HTTP', () => benchHttp(ctx)],
    [[3], '3 the floor: a minimal exchanger', () => benchFloor(ctx)],
    [
      [3],
      '3 SQLite shared by worker processes',
      () => benchStoreWriters(dir, benchWorkers() ?? availableParallelism()),
    ],
    [[6], '6 memory', () => benchMemory(ctx)],
    [[7], '7 the Action', () => benchAction(ctx)],
    [[8], '8 refresh agent', () => benchRefresh(ctx)],
    [[9], '9 the console', () => benchConsole(ctx)],
    [[11], '11 two instances on one PostgreSQL', () => benchPostgres(ctx)],
    [[10], '10 the Kubernetes audit filter', () => benchKubernetesAudit()],
    [[12], '12 CPU per exchange by offered load', () => benchLoadLevel(ctx)],
    [[13], '13 SQLite writes of one exchange', () => benchStoreWrites(dir)],
  ];
  try {
    for (const [ids, name, run] of sections) {
      if (!ids.some(wanted)) continue;
      if (ids.length === 1) log(name);
      try {
        rows.push(...(await run()));
      } catch (err) {
        failures.push(`${name}: ${(err as Error).stack ?? String(err)}`);
        log(`FAILED ${name}: ${(err as Error).message}`);
      }
    }
  } finally {
    await Promise.all([idp.stop(), sts.stop()]);
    if (process.env.BENCH_KEEP) log(`kept ${dir} (logs, SQLite files)`);
    else rmSync(dir, { recursive: true, force: true });
  }

  const seconds = (performance.now() - started) / 1000;
  const out = [
    `jitkey bench — ${commit()} — node ${machine.node}, ${machine.cpus} CPU (${machine.cpu})`,
    `load average at start ${machine.loadavgAtStart}, at end ${load()}; ${seconds.toFixed(0)} s${Object.keys(machine.settings).length ? `; ${JSON.stringify(machine.settings)}` : ''}`,
    `The load generator, jitkey serve, the STS stand-in and the issuer share these ${machine.cpus} CPUs:`,
    'HTTP figures are for the whole stack on one machine. Compare ratios across commits.',
    '',
    renderTable(rows),
    '',
    ...rows.filter((r) => r.note).map((r) => `${r.section}. ${r.figure}: ${r.note}`),
  ];
  const missed = rows.filter((r) => r.goal && !r.goal.met);
  out.push('', `goals: ${rows.filter((r) => r.goal?.met).length} met, ${missed.length} missed`);
  for (const r of missed)
    out.push(`  missed: ${r.section}. ${r.figure}: ${fmt(r.value, r.unit)} (${r.goal!.text})`);
  process.stdout.write(`${out.join('\n')}\n`);

  const resultsDir = join(REPO_ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ commit: commit(), at: new Date().toISOString(), seconds, machine: { ...machine, loadavgAtEnd: load() }, rows, failures }, null, 2)}\n`,
  );
  process.stdout.write(`\nwritten: ${file}\n`);
  if (failures.length > 0) {
    process.stderr.write(`\n${failures.join('\n\n')}\n`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

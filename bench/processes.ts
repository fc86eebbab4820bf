/**
 * The server processes the bench measures: `jitkey serve` (the exchanger) and the baseline, a
 * bare node:http route. Each runs as its own process with its log on a file (as a container
 * runtime would collect it), so neither the logging nor the bench pays for a pipe reader.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI, REPO_ROOT } from '../test/support/paths.js';
import { descendants } from './sched.js';

export interface ServerProcess {
  url: string;
  pid: number;
  logPath: string;
  /** Resident set size in KiB, from /proc/<pid>/status (VmRSS). */
  rssKiB(): number;
  /** CPU time used so far (user + system) by the process and its children (workers), seconds. */
  cpuSeconds(): number;
  /** Sends `signal` to the process and its children (workers). */
  signalAll(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 20_000;

async function launch(args: string[], env: NodeJS.ProcessEnv, logPath: string): Promise<ServerProcess> {
  const fd = openSync(logPath, 'a');
  const child: ChildProcess = spawn(process.execPath, args, { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code) => {
      exitCode = code;
      resolve();
    }),
  );
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let url: string | undefined;
  while (!url) {
    if (exitCode !== undefined)
      throw new Error(`${args.join(' ')} exited with ${exitCode}:\n${readLog(logPath)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${args.join(' ')} did not start listening:\n${readLog(logPath)}`);
    }
    url = /"msg":"listening"[^\n]*"url":"(http:\/\/[^"]+)"/.exec(readLog(logPath))?.[1];
    if (!url) await sleep(20);
  }
  const pid = child.pid!;
  return {
    url,
    pid,
    logPath,
    rssKiB: () => rssKiB(pid),
    cpuSeconds: () => descendants(pid).reduce((sum, p) => sum + cpuSeconds(p), 0),
    signalAll: (signal) => {
      for (const p of descendants(pid)) process.kill(p, signal);
    },
    async stop() {
      if (exitCode === undefined) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]);
}

/** utime + stime of a process, in seconds (clock ticks of 1/100 s, Linux's USER_HZ). */
export function cpuSeconds(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0; // ended meanwhile
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export interface ExchangerOptions {
  dir: string;
  policyPath: string;
  env: Record<string, string>;
  /** Write a V8 CPU profile (`--cpu-prof`) into this directory when the process stops. */
  cpuProfDir?: string;
  /** `--workers`; default 1 (one process). */
  workers?: number;
  /** More arguments to `jitkey serve` (`--no-console`). */
  extraArgs?: string[];
  /** `--store`; default an SQLite file in `dir` (or `BENCH_STORE`). */
  store?: string;
  /** Load `loop-delay.ts` into every process of the server, writing to this file on SIGUSR2. */
  loopDelayFile?: string;
}

/**
 * `BENCH_WORKERS`: the `--workers` of every `jitkey serve` the HTTP sections start, when set;
 * undefined when unset or empty, so each section uses its own default.
 */
export function benchWorkers(): number | undefined {
  const text = process.env.BENCH_WORKERS?.trim();
  if (!text) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new Error(`BENCH_WORKERS must be a whole number of processes, at least 1 (got '${text}')`);
  return n;
}

export function startExchangerProcess(options: ExchangerOptions): Promise<ServerProcess> {
  const storePath = join(options.dir, 'jitkey.db');
  const prof = options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : [];
  return launch(
    [
      ...prof,
      process.env.BENCH_JITKEY ?? CLI,
      'serve',
      '--policy',
      options.policyPath,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--store',
      options.store ?? process.env.BENCH_STORE ?? `sqlite:${storePath}`,
      '--workers',
      String(options.workers ?? 1),
      ...(options.extraArgs ?? []),
    ],
    {
      PATH: process.env.PATH ?? '',
      JITKEY_LOG_LEVEL: 'info',
      // The single SQLite writer is opt-in: `JITKEY_SQLITE_WRITER=primary npm run bench` measures it.
      ...(process.env.JITKEY_SQLITE_WRITER ? { JITKEY_SQLITE_WRITER: process.env.JITKEY_SQLITE_WRITER } : {}),
      // How the primary shares out connections: `none` lets the workers accept them themselves.
      ...(process.env.NODE_CLUSTER_SCHED_POLICY
        ? { NODE_CLUSTER_SCHED_POLICY: process.env.NODE_CLUSTER_SCHED_POLICY }
        : {}),
      ...options.env,
      ...(options.loopDelayFile
        ? {
            NODE_OPTIONS: `--import ${join(REPO_ROOT, 'lib/bench/loop-delay.js')}`,
            BENCH_LOOP_DELAY_FILE: options.loopDelayFile,
          }
        : {}),
    },
    join(options.dir, 'exchanger.log'),
  );
}

/**
 * The baseline: `bench/bare-route.ts`, node:http answering a fixed JSON body; with `upstream`,
 * after one POST to it.
 */
export function startBareRoute(dir: string, upstream?: string): Promise<ServerProcess> {
  return launch(
    [join(REPO_ROOT, 'lib/bench/bare-route.js'), ...(upstream ? ['--upstream', upstream] : [])],
    { PATH: process.env.PATH ?? '' },
    join(dir, upstream ? 'bare-route-upstream.log' : 'bare-route.log'),
  );
}

/** TcpExt ListenOverflows from /proc/net/netstat: SYNs dropped because an accept queue was full. */
export function listenOverflows(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i]!.split(/\s+/);
    const values = lines[i + 1]!.split(/\s+/);
    const at = names.indexOf('ListenOverflows');
    if (names[0] === 'TcpExt:' && at > 0) return Number(values[at]);
  }
  return Number.NaN;
}

/**
 * The floor (`bench/floor.ts`): a minimal exchanger doing only the unavoidable work, against the
 * same issuer and STS stand-in as `jitkey serve` (`env`: the STS endpoint and keys).
 */
export function startFloor(
  dir: string,
  issuerUrl: string,
  env: Record<string, string>,
  options: { checkpoints?: boolean } = {},
): Promise<ServerProcess> {
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  const db = ['--db', join(dir, 'floor.db'), ...(options.checkpoints === false ? ['--no-checkpoints'] : [])];
  return launch(
    [...prof, join(REPO_ROOT, 'lib/bench/floor.js'), '--issuer', issuerUrl, ...db],
    { PATH: process.env.PATH ?? '', ...env },
    join(dir, 'floor.log'),
  );
}

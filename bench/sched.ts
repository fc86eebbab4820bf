/**
 * Where a process's time goes while the bench drives it, from the kernel's scheduler statistics
 * (/proc/PID/task/TID/schedstat: nanoseconds on a CPU, nanoseconds runnable but waiting for
 * one). For a Node server the main thread is the event loop: on CPU + waiting for a CPU ≈ 100 %
 * means it was CPU-bound (and the wait says how much its neighbours took); a large idle share
 * means it waited for something else (requests that did not come, the disk, the upstream).
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface SchedSnapshot {
  at: number;
  /** Per process (the server and its descendants, e.g. cluster workers): main thread and all threads. */
  processes: Map<number, { mainRunNs: number; mainWaitNs: number; runNs: number; waitNs: number }>;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // the process or thread ended meanwhile
  }
}

/** `pid` and every process below it (cluster workers, their children). */
export function descendants(pid: number): number[] {
  const children = (read(`/proc/${pid}/task/${pid}/children`) ?? '').trim().split(/\s+/).filter(Boolean);
  return [pid, ...children.flatMap((c) => descendants(Number(c)))];
}

function schedstat(path: string): [number, number] {
  const [run = '0', wait = '0'] = (read(path) ?? '').split(' ');
  return [Number(run), Number(wait)];
}

export function schedSnapshot(pid: number): SchedSnapshot {
  const processes: SchedSnapshot['processes'] = new Map();
  for (const p of descendants(pid)) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    const [mainRunNs, mainWaitNs] = schedstat(`/proc/${p}/task/${p}/schedstat`);
    let runNs = 0;
    let waitNs = 0;
    for (const tid of tids) {
      const [r, w] = schedstat(`/proc/${p}/task/${tid}/schedstat`);
      runNs += r;
      waitNs += w;
    }
    processes.set(p, { mainRunNs, mainWaitNs, runNs, waitNs });
  }
  return { at: performance.now(), processes };
}

export interface SchedShare {
  /** Processes seen in both snapshots. */
  processes: number;
  /** CPU seconds of every thread of every process, and seconds runnable but not running. */
  cpuS: number;
  waitS: number;
  /** CPU seconds of each process (all its threads): a primary and its workers, say. */
  perProcess: { pid: number; cpuS: number }[];
  /** Of the busiest main thread (event loop): shares of the wall time, 0–1. */
  busiest: { run: number; wait: number; idle: number };
}

export function schedShare(before: SchedSnapshot, after: SchedSnapshot): SchedShare {
  const wallNs = (after.at - before.at) * 1e6;
  let cpuS = 0;
  let waitS = 0;
  let busiest = { run: 0, wait: 0, idle: 1 };
  const perProcess: SchedShare['perProcess'] = [];
  for (const [pid, b] of before.processes) {
    const a = after.processes.get(pid);
    if (!a) continue;
    perProcess.push({ pid, cpuS: (a.runNs - b.runNs) / 1e9 });
    cpuS += (a.runNs - b.runNs) / 1e9;
    waitS += (a.waitNs - b.waitNs) / 1e9;
    const run = (a.mainRunNs - b.mainRunNs) / wallNs;
    const wait = (a.mainWaitNs - b.mainWaitNs) / wallNs;
    if (run > busiest.run) busiest = { run, wait, idle: Math.max(0, 1 - run - wait) };
  }
  return { processes: perProcess.length, cpuS, waitS, perProcess, busiest };
}

const pct = (x: number) => `${(100 * x).toFixed(0)} %`;

export function describeShare(what: string, s: SchedShare): string {
  const { run, wait, idle } = s.busiest;
  return `${what}: busiest event loop on a CPU ${pct(run)}, runnable but waiting for a CPU ${pct(wait)}, idle ${pct(idle)}`;
}

/** Busy CPU-seconds of the whole machine so far (every tenant), from /proc/stat. */
export function machineBusyS(): number {
  const fields = (read('/proc/stat') ?? '').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …: everything but idle and iowait is busy.
  const busy = fields.reduce((sum, v, i) => (i === 3 || i === 4 ? sum : sum + v), 0);
  return busy / 100; // USER_HZ
}

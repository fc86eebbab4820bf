/**
 * How long the event loop of each server process stalled, measured inside it: loaded before the
 * server with `node --import lib/bench/loop-delay.js` (NODE_OPTIONS, so `--workers` children load
 * it too), it waits for SIGUSR2: the first starts `monitorEventLoopDelay`, the second stops it
 * and appends one line of JSON to `$BENCH_LOOP_DELAY_FILE` (this process's delays in between),
 * and so on. The bench signals before and after a phase.
 *
 * It also counts garbage-collection pauses (PerformanceObserver `gc`), the usual suspect.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

export interface LoopDelay {
  pid: number;
  /** Milliseconds the loop started late, over the phase. */
  p50: number;
  p99: number;
  max: number;
  /** Garbage collections during the phase, and their total and longest pause, ms. */
  gcCount: number;
  /** Of them, full mark-compacts (the long ones). */
  gcMajor: number;
  gcMs: number;
  gcMaxMs: number;
}

const file = process.env.BENCH_LOOP_DELAY_FILE;
if (file && isMainThread) {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  let gc = { count: 0, major: 0, ms: 0, maxMs: 0 };
  const gcs = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gc.count++;
      if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)
        gc.major++;
      gc.ms += entry.duration;
      gc.maxMs = Math.max(gc.maxMs, entry.duration);
    }
  });
  let on = false;
  // Off between phases: its 1 ms timer would add to the CPU the throughput runs measure.
  process.on('SIGUSR2', () => {
    on = !on;
    if (on) {
      delay.reset();
      gc = { count: 0, major: 0, ms: 0, maxMs: 0 };
      delay.enable();
      gcs.observe({ entryTypes: ['gc'] });
      return;
    }
    delay.disable();
    gcs.disconnect();
    const ms = (ns: number) => ns / 1e6;
    const line: LoopDelay = {
      pid: process.pid,
      p50: ms(delay.percentile(50)),
      p99: ms(delay.percentile(99)),
      max: ms(delay.max),
      gcCount: gc.count,
      gcMajor: gc.major,
      gcMs: gc.ms,
      gcMaxMs: gc.maxMs,
    };
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  });
}

/** Every line written to `path` so far, oldest first. */
export function readLoopDelays(path: string): LoopDelay[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as LoopDelay);
}

/** The worst of several processes', in one phrase for a note. */
export function describeLoopDelays(delays: LoopDelay[]): string {
  if (delays.length === 0) return 'event-loop delay: not measured';
  const worst = (key: keyof LoopDelay) => Math.max(...delays.map((d) => d[key]));
  const sum = (key: keyof LoopDelay) => delays.reduce((n, d) => n + d[key], 0);
  return `event-loop delay (monitorEventLoopDelay, worst of ${delays.length} process${delays.length > 1 ? 'es' : ''}): p50 ${worst('p50').toFixed(1)} ms, p99 ${worst('p99').toFixed(1)} ms, max ${worst('max').toFixed(1)} ms; GC: ${sum('gcCount')} pauses (${sum('gcMajor')} full), ${sum('gcMs').toFixed(0)} ms in all, longest ${worst('gcMaxMs').toFixed(1)} ms`;
}

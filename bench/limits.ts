/**
 * What limited a load run, named from the scheduler's figures (`sched.ts`) rather than guessed:
 * the exchanger's event loop, the load generator's, or the machine's CPUs all being taken, or
 * none of these (the loop idles: it waits on something).
 */
import type { LoadResult } from './loadgen.js';
import { describeShare, type SchedShare } from './sched.js';

export interface RunShares {
  result: LoadResult;
  /** The exchanger's processes (primary and workers). */
  server: SchedShare;
  /** CPU seconds of the bench process (STS stand-in, issuer) during the run. */
  stackCpuS: number;
  /** Busy CPU-seconds of the whole machine during the run, every tenant included. */
  machineBusyS: number;
}

/** A saturated thread is on a CPU or waiting for one nearly all the time. */
const SATURATED = 0.9;
const wanted = (s: SchedShare) => s.busiest.run + s.busiest.wait;

export function limitOf(run: RunShares, cpus: number, workers: number): string {
  const { result, server } = run;
  const gen = result.sched;
  const cpuS = server.cpuS + gen.cpuS + run.stackCpuS;
  const used = cpuS / result.elapsedS;
  const waitCpus = (server.waitS + gen.waitS) / result.elapsedS;
  const machine = run.machineBusyS / result.elapsedS;
  const facts = [
    describeShare(`jitkey serve (${workers} worker${workers > 1 ? 's' : ''})`, server),
    describeShare('load generator', gen),
    `the bench's processes used ${used.toFixed(2)} of ${cpus} CPUs and the whole machine ${machine.toFixed(2)}; the bench's threads spent ${waitCpus.toFixed(2)} CPU-seconds per second runnable but waiting for a CPU`,
  ].join('; ');
  let verdict: string;
  if (server.busiest.wait >= 0.25 && server.busiest.wait >= server.busiest.run / 2)
    verdict = `limit: CPU contention. The exchanger's event loop was runnable but waiting for a CPU ${pct(server.busiest.wait)} of the time (on one ${pct(server.busiest.run)}): the machine's ${cpus} CPUs were busy ${pct(machine / cpus)}, ${machine - used > 0.2 ? `${(machine - used).toFixed(2)} CPUs of it other tenants'` : 'nearly all of it this bench'}`;
  else if (wanted(server) >= SATURATED)
    verdict = `limit: the exchanger's event loop (${pct(server.busiest.run)} on a CPU)${workers === 1 ? ': one process uses one core' : ''}`;
  else if (wanted(gen) >= SATURATED)
    verdict = `limit: the load generator (${pct(wanted(gen))} busy), not the exchanger`;
  else if (used >= SATURATED * cpus) verdict = `limit: CPU, all ${cpus} CPUs busy`;
  else
    verdict = `limit: waiting — no thread saturated and CPUs left idle (the event loop idled ${pct(server.busiest.idle)})`;
  return `${verdict}. ${facts}`;
}

const pct = (x: number) => `${(100 * x).toFixed(0)} %`;

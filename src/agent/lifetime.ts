/**
 * The agent must not outlive its job when the post step never runs (a cancelled job, a runner
 * that lost its job, a post step killed). Three ways it ends without the post step:
 *
 * - it carries the job's RUNNER_TRACKING_ID, by which the runner's orphan clean-up finds and ends
 *   the processes a job left behind (`launch.ts` passes it on);
 * - it exits at the end of its last lease once renewing has stopped for good (`renewer.ts`:
 *   `max_duration` used up, run completed);
 * - it exits when the runner process that ran the main step (the main step's parent, the job's
 *   Runner.Worker) is gone: `watchRunner` below.
 */
import { readFileSync } from 'node:fs';

export interface ProcessProbe {
  /** `process.kill(pid, 0)`: throws ESRCH when there is no such process. */
  kill(pid: number, signal: 0): void;
  /** The text of /proc/PID/stat, or undefined where there is none. */
  stat(pid: number): string | undefined;
}

export const realProbe: ProcessProbe = {
  kill: (pid, signal) => {
    process.kill(pid, signal);
  },
  stat: (pid) => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return undefined;
    }
  },
};

/**
 * A process's start time (clock ticks since boot, field 22 of /proc/PID/stat), which tells a pid
 * reused by a later process from the one we watch. The command name (field 2) may hold spaces and
 * parentheses, so fields are counted after its last `)`.
 */
export function startTime(stat: string | undefined): string | undefined {
  if (!stat) return undefined;
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[19];
}

/** Whether `pid` (started at `started`, when known) no longer runs. */
export function processGone(pid: number, started: string | undefined, probe: ProcessProbe): boolean {
  try {
    probe.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists, as another user's process.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return true;
  }
  if (started === undefined) return false;
  const stat = probe.stat(pid);
  // A zombie (state Z) has ended; a different start time is another process under a reused pid.
  return stateOf(stat) === 'Z' || startTime(stat) !== started;
}

function stateOf(stat: string | undefined): string | undefined {
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}

export interface RunnerWatch {
  stop(): void;
}

/**
 * Polls `pid` every `intervalMs` and calls `onGone` once when it has gone. A pid of 0 or 1 (a main
 * step whose parent is outside its PID namespace, e.g. `docker exec`, or already reparented) is
 * not watched.
 */
export function watchRunner(
  pid: number | undefined,
  onGone: () => void,
  options: {
    intervalMs: number;
    probe?: ProcessProbe;
    setInterval?: (fn: () => void, ms: number) => unknown;
    clearInterval?: (handle: unknown) => void;
  },
): RunnerWatch {
  if (pid === undefined || pid <= 1) return { stop: () => {} };
  const probe = options.probe ?? realProbe;
  const every = options.setInterval ?? ((fn, ms) => setInterval(fn, ms));
  const clear = options.clearInterval ?? ((h) => clearInterval(h as NodeJS.Timeout));
  const started = startTime(probe.stat(pid));
  const handle = every(() => {
    if (!processGone(pid, started, probe)) return;
    clear(handle);
    onGone();
  }, options.intervalMs);
  return { stop: () => clear(handle) };
}

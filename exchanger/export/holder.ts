/**
 * Who holds an export cursor: this host and process (`host pid 1234`). A second exporter on the
 * same host with the same cursor name waits as one elsewhere would (the host name alone let both
 * write at once). An exporter that ended without letting go (SIGKILL, a crash) need not be
 * waited out: on its own host, its process is seen to be gone, and the cursor is taken at once.
 */
import { hostname } from 'node:os';

export function thisHolder(): string {
  return `${hostname()} pid ${process.pid}`;
}

/** Whether `holder` was an exporter of this host whose process has ended. */
export function holderGone(holder: string): boolean {
  const m = / pid (\d+)$/.exec(holder);
  if (!m || holder.slice(0, m.index) !== hostname()) return false;
  try {
    process.kill(Number(m[1]), 0);
    return false;
  } catch (err) {
    // EPERM: a process of another user is running there.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

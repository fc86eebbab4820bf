/**
 * Vitest global setup: the run's temporary files (every `jitkey serve`'s SQLite store, the store
 * tests' files, policies, sockets) go to one folder in memory, `/dev/shm`, when the machine has
 * one with room; the workers and the processes they spawn read it as `TMPDIR`. A file store's
 * writes wait for the disk (WAL syncs); on a loaded CI machine that wait was most of the SQLite
 * tests' time. Teardown removes the folder, so nothing stays in memory after the run. Elsewhere
 * (no `/dev/shm`, mounted `noexec` (tests run programs from the temporary folder), under 1 GiB
 * free as in a container's default 64 MB, or `TMPDIR` set by the caller) nothing changes.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

const SHM = '/dev/shm';
const ROOM = 1024 ** 3;

function roomIn(path: string): number {
  try {
    const s = statfsSync(path);
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
}

function runsPrograms(path: string): boolean {
  try {
    const mount = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((line) => line.split(' '))
      .find((fields) => fields[1] === path);
    return mount !== undefined && !mount[3]?.split(',').includes('noexec');
  } catch {
    return false;
  }
}

export default function setup(): (() => void) | undefined {
  if (process.env.TMPDIR || roomIn(SHM) < ROOM || !runsPrograms(SHM)) return undefined;
  const dir = mkdtempSync(join(SHM, 'jitkey-test-'));
  // Enterable by others, as /tmp is: as root, a test's own PostgreSQL runs as `postgres`.
  chmodSync(dir, 0o755);
  process.env.TMPDIR = dir;
  return () => {
    delete process.env.TMPDIR;
    rmSync(dir, { recursive: true, force: true });
  };
}

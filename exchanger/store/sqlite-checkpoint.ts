/**
 * WAL checkpoints off the event loop.
 *
 * SQLite's automatic checkpoint runs inside the commit that takes the WAL past
 * `wal_autocheckpoint` pages (1,000 by default): that commit copies the WAL into the database and
 * fsyncs both before it returns — several milliseconds every few hundred writes, during which this
 * (synchronous) connection blocks the event loop and every request waits. Here a worker thread
 * with its own connection runs PASSIVE checkpoints every `intervalMs`: they copy pages while this
 * connection keeps committing. The automatic checkpoint stays on as a backstop, at `backstopPages`:
 * under sustained writes no passive checkpoint finishes without a commit overlapping it, and only
 * a checkpoint in the writer's own connection lets the WAL start over; by then the worker has
 * copied nearly everything, so that checkpoint is short.
 *
 * The thread starts `startAfterMs` after the store opens, not at once: starting it costs about as
 * much CPU as a short-lived store's whole work (`jitkey audit`, a test's store), and until then the
 * WAL is small enough for SQLite's own checkpoint to stay short.
 *
 * A worker that cannot start or fails puts the automatic checkpoint back to SQLite's default.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { Logger } from '../log.js';

const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000;

export interface CheckpointOptions {
  /** How often the worker checkpoints; default 100 ms. */
  intervalMs?: number;
  /** `wal_autocheckpoint` of the writing connection meanwhile; default 10,000 pages (~40 MB of WAL). */
  backstopPages?: number;
  /** How long after opening the thread starts; default 1 s. */
  startAfterMs?: number;
}

export interface Checkpointer {
  stop(): Promise<void>;
}

// CommonJS, evaluated in the worker: it only needs the driver and the file.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    // Another connection checkpointing, or the writer restarting the WAL: next time.
    if (err.code !== 'SQLITE_BUSY' && err.code !== 'SQLITE_LOCKED') throw err;
  }
}, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

const none: Checkpointer = { stop: async () => {} };

export function startCheckpointer(
  db: Database.Database,
  log: Logger,
  options: CheckpointOptions = {},
): Checkpointer {
  if (db.memory) return none;
  let thread: Checkpointer | undefined;
  const timer = setTimeout(() => {
    if (db.open) thread = startThread(db, log, options);
  }, options.startAfterMs ?? 1000);
  // A store that is only read, or closed soon, never needs the thread: nothing waits for it.
  timer.unref();
  return {
    async stop() {
      clearTimeout(timer);
      await thread?.stop();
    },
  };
}

function startThread(db: Database.Database, log: Logger, options: CheckpointOptions): Checkpointer {
  const restore = () => db.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`);
  let worker: Worker;
  try {
    worker = new Worker(WORKER, {
      eval: true,
      workerData: {
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
        file: db.name,
        intervalMs: options.intervalMs ?? 100,
      },
    });
  } catch (err) {
    log.warn('WAL checkpoints stay in the commits: the checkpoint thread did not start', {
      error: err as Error,
    });
    return none;
  }
  worker.unref();
  db.pragma(`wal_autocheckpoint = ${options.backstopPages ?? 10_000}`);
  let running = true;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.once('error', (err) => {
    if (!running) return;
    running = false;
    log.warn('the WAL checkpoint thread failed; checkpoints run in the commits again', { error: err });
    if (db.open) restore();
  });
  return {
    async stop() {
      if (!running) return;
      running = false;
      worker.ref(); // the process waits for the thread to close its connection
      worker.postMessage('stop');
      await exited;
      if (db.open) restore();
    },
  };
}

/**
 * Runs one load job in a fresh load-generator process (`loadgen.ts`) and returns its result.
 * `onStart` runs once the generator has minted its tokens, just before its clock starts.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/support/paths.js';
import type { LoadJob, LoadResult } from './loadgen.js';

const LOADGEN = join(REPO_ROOT, 'lib/bench/loadgen.js');

export function runLoad(job: LoadJob, onStart?: () => void): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(LOADGEN, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let settled = false;
    child.on('message', (msg: { ready?: true; result?: LoadResult; error?: string }) => {
      if (msg.ready) {
        onStart?.();
        child.send({ go: true });
        return;
      }
      settled = true;
      if (msg.result) resolve(msg.result);
      else reject(new Error(`load generator failed: ${msg.error}`));
    });
    child.once('exit', (code) => {
      if (!settled) reject(new Error(`load generator exited with ${code} before answering`));
    });
    child.send(job);
  });
}

/**
 * Loading a policy without stalling the requests this process serves (issue 24, item 4): a
 * worker thread reads, parses and validates it (YAML parsing of a 6 MiB directory takes
 * seconds); this thread only compiles it, a few hundred roles per event-loop turn, so requests
 * are answered between the pieces. The policy in force is untouched until the caller swaps in
 * the result.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  compileHead,
  compilePiece,
  type PolicySnapshot,
  type ValidatedPolicy,
} from '../policy/load/snapshot.js';
import { PolicyError } from '../policy/model/errors.js';
import type { Policy, Role } from '../policy/model/types.js';
import type { ClusterNames } from '../policy/validate/resources.js';
import type { AsideInput, AsideMessage } from './policy-thread.js';

/** Roles compiled per event-loop turn: a few milliseconds of work on a busy core. */
const PIECE_ROLES = 250;

export interface Validated {
  snapshot: PolicySnapshot;
  roles: number;
}

export interface Loaded {
  policy: Policy;
  digest: string;
  roles: number;
}

/**
 * Reads and validates `path` in a thread (the cluster primary: it compiles nothing). `clusters`:
 * server URLs that name one cluster (`clusterNamesFromEnv`), here and in `loadAside`.
 */
export async function validateAside(path: string, clusters: ClusterNames): Promise<Validated> {
  let result: Validated | undefined;
  await runThread({ path, pieces: 0, clusters }, (m) => {
    if (m.kind === 'valid' && m.snapshot) result = { snapshot: m.snapshot, roles: m.roles };
  });
  if (!result) throw new Error('internal: the policy thread ended without its answer');
  return result;
}

/** Validates the snapshot (or reads the path) in a thread and compiles it here, piece by piece. */
export async function loadAside(
  source: { path: string } | { snapshot: PolicySnapshot },
  clusters: ClusterNames,
): Promise<Loaded> {
  let head: ValidatedPolicy | undefined;
  let policy: Policy | undefined;
  const compiled = new Map<string, Role>();
  let digest = '';
  let roles = 0;
  // One piece per event-loop turn: the thread sends the next only once this one is compiled.
  await runThread({ ...source, pieces: PIECE_ROLES, clusters }, (m) => {
    if (m.kind === 'valid') {
      head = m.head;
      policy = compileHead(m.head!);
      digest = m.digest;
      roles = m.roles;
    } else if (m.kind === 'piece') {
      for (const role of compilePiece(head!, m.piece)) compiled.set(role.name, role);
    }
  });
  if (!policy) throw new Error('internal: the policy thread ended without its answer');
  return { policy: { ...policy, roles: compiled }, digest, roles };
}

const THREAD_FILE = fileURLToPath(new URL('./policy-thread.js', import.meta.url));

/** Runs the thread to its `done`; a refused policy rejects with its `PolicyError`. */
function runThread(input: AsideInput, onMessage: (m: AsideMessage) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const handle = (m: AsideMessage) => {
      if (settled) return;
      if (m.kind === 'invalid' || m.kind === 'failed') {
        settled = true;
        reject(m.kind === 'invalid' ? new PolicyError(m.issues) : new Error(m.message));
      } else if (m.kind === 'done') {
        settled = true;
        resolve();
      } else onMessage(m);
    };
    const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
    // Run from TypeScript sources (tests) there is no compiled thread file: the same steps here.
    if (!existsSync(THREAD_FILE)) {
      void import('./policy-thread.js').then((t) => t.runAside(input, handle, nextTurn), reject);
      return;
    }
    const worker = new Worker(THREAD_FILE, { workerData: { jitkeyPolicyAside: input } });
    worker.on('message', (m: AsideMessage) => {
      handle(m);
      // Taken: the next piece comes after the requests that arrived meanwhile.
      if (m.kind === 'piece') void nextTurn().then(() => worker.postMessage('next'));
    });
    worker.on('error', (err) => {
      if (!settled) {
        settled = true;
        reject(err);
      }
    });
    worker.on('exit', (code) => {
      if (!settled) {
        settled = true;
        reject(new Error(`the policy loading thread exited (code ${code}) before it answered`));
      }
    });
  });
}

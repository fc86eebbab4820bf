/**
 * The worker thread that loads a policy aside (`policy-aside.ts`): reads the path (or takes the
 * snapshot it is handed), parses and validates it, and posts the result back in pieces of a few
 * hundred roles, so the thread that serves requests never parses YAML.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import {
  headOf,
  type PolicyPiece,
  type PolicySnapshot,
  piecesOf,
  policyDigest,
  readPolicySnapshot,
  roleCount,
  type ValidatedPolicy,
  validateSnapshot,
} from '../policy/load/snapshot.js';
import { isPolicyError, type PolicyIssue } from '../policy/model/errors.js';
import type { ClusterNames } from '../policy/validate/resources.js';

/** What `policy-aside.ts` hands the thread, and what the thread posts back. */
export type AsideInput = ({ path: string } | { snapshot: PolicySnapshot }) & {
  /** Roles per piece to send back for compiling; 0: validate only. */
  pieces: number;
  /** Server URLs that name one cluster (`clusterNamesFromEnv`). */
  clusters: ClusterNames;
};

export type AsideMessage =
  | { kind: 'valid'; digest: string; roles: number; snapshot?: PolicySnapshot; head?: ValidatedPolicy }
  | { kind: 'piece'; piece: PolicyPiece }
  | { kind: 'done' }
  | { kind: 'invalid'; issues: readonly PolicyIssue[] }
  | { kind: 'failed'; message: string };

/**
 * The thread's work; also run in-process where no compiled thread file exists (tests on sources).
 * `pace` resolves when the receiver has taken a piece: posting them all at once would make it
 * deserialize every one in a single turn of its event loop.
 */
export async function runAside(
  input: AsideInput,
  post: (message: AsideMessage) => void,
  pace: () => Promise<void>,
): Promise<void> {
  try {
    const snapshot =
      'snapshot' in input
        ? // Handed in: the digest is worked out again here, from the content this process compiles.
          { ...input.snapshot, digest: policyDigest(input.snapshot.kind, input.snapshot.files) }
        : await readPolicySnapshot(input.path);
    const validated = validateSnapshot(snapshot, { clusters: input.clusters });
    post({
      kind: 'valid',
      digest: snapshot.digest,
      roles: roleCount(validated),
      // The primary keeps the content to hand out; a process that compiles it needs only the result.
      ...('path' in input && !input.pieces ? { snapshot } : {}),
      ...(input.pieces ? { head: headOf(validated) } : {}),
    });
    if (input.pieces) {
      for (const piece of piecesOf(validated, input.pieces)) {
        post({ kind: 'piece', piece });
        await pace();
      }
    }
    post({ kind: 'done' });
  } catch (err) {
    post(
      isPolicyError(err)
        ? { kind: 'invalid', issues: err.issues }
        : { kind: 'failed', message: err instanceof Error ? err.message : String(err) },
    );
  }
}

if (!isMainThread && (workerData as { jitkeyPolicyAside?: AsideInput } | null)?.jitkeyPolicyAside) {
  const port = parentPort!;
  void runAside(
    (workerData as { jitkeyPolicyAside: AsideInput }).jitkeyPolicyAside,
    (m) => port.postMessage(m),
    () => new Promise<void>((resolve) => port.once('message', () => resolve())),
  );
}

/**
 * What lets a `workflow_run completed` webhook end a run's leases (reference.md §5, refresh).
 *
 * - Which run attempt a token belongs to: `ci-job.ts` `jobRun` (for GitHub `repository_id`,
 *   `run_id`, `run_attempt`, the claims its webhook also carries: `repository.id`,
 *   `workflow_run.id`, `run_attempt`).
 * - Deleting a GitHub token upstream needs the token, which the store keeps sealed under the
 *   lease's revoke_token. The webhook never has that token, so with a webhook secret configured
 *   the token is sealed a second time under a key derived from that secret (`sealForRunEnd`): a
 *   copy of the database alone still opens nothing; the database and the webhook secret together
 *   open tokens that are at most an hour old. Rotating the secret leaves older leases to expire.
 */
import { seal, unseal } from './secrets.js';

/** Domain separation from the revoke_token seal: another salt and AAD for the same lease. */
const runEndId = (leaseId: string) => `run-end:${leaseId}`;

export function sealForRunEnd(secret: string, webhookSecret: string, leaseId: string): string {
  return seal(secret, webhookSecret, runEndId(leaseId));
}

export function unsealForRunEnd(sealed: string, webhookSecret: string, leaseId: string): string {
  return unseal(sealed, webhookSecret, runEndId(leaseId));
}

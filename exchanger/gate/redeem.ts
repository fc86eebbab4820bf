/**
 * Approval once, credentials at once: a job GitHub started after the gate approved its deployment
 * asks for a gated role, and gets it without waiting. The approval is bound to the run attempt,
 * the environment, the sha and the workflow; the token's claims must repeat every one of them.
 * Anything else (no gate approval, another attempt, a changed policy) is `undefined`: the caller
 * opens an in-job approval request as before.
 *
 * The request stays approved for the deployment's other jobs (a matrix) until its window ends or
 * the run attempt completes; each use is its own lease and its own audit row.
 */

import { approvalInForce } from '../approvals/context.js';
import { effectiveStatus } from '../approvals/state.js';
import { ownClaim } from '../claims.js';
import { formatDuration } from '../duration.js';
import { mintAndRecord } from '../exchange/mint.js';
import type { Grant, ImmediateGrantRequest } from '../exchange/types.js';
import type { GateCore } from './service.js';
import type { GateDeps } from './types.js';

export type GateRedemption = ImmediateGrantRequest;

/** Token claims that must equal the gate request's, besides the run attempt and environment. */
const BOUND = ['sha', 'workflow_ref'] as const;

export async function redeemAtGate(
  deps: GateDeps,
  core: GateCore,
  { role, claims, durationSeconds, endsAt, client, appGithub }: GateRedemption,
): Promise<Grant | undefined> {
  // The gate's approvals are for the App's GitHub's deployments: another issuer's token (another
  // CI, or a second GitHub) is never one of them, whatever GitHub claims it carries.
  if (!appGithub) return undefined;
  const str = (name: string) => {
    const v = ownClaim(claims, name);
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const [repositoryId, runId, runAttempt, environment] = [
    'repository_id',
    'run_id',
    'run_attempt',
    'environment',
  ].map(str);
  if (!repositoryId || !runId || !runAttempt || !environment || !deps.github) return undefined;
  const now = deps.now();
  const match = (await core.requestsOf({ repositoryId, runId, runAttempt }, environment)).find(
    (r) =>
      r.role === role.name &&
      effectiveStatus(r, now) === 'approved' &&
      BOUND.every((name) => r.claims[name] !== undefined && r.claims[name] === str(name)),
  );
  if (!match) return undefined;
  // Under the policy in force: a vote of someone it no longer names does not count.
  const { kept, holds } = await approvalInForce(deps.github, deps.policy(), match, deps.now());
  if (!holds) return undefined;
  const by = kept.map((v) => v.login).join(', ');
  return mintAndRecord({
    deps,
    requestId: match.id,
    role,
    claims,
    durationSeconds,
    ...(endsAt ? { endsAt } : {}),
    audit: {
      event: 'redeem',
      reason: `granted for ${formatDuration(durationSeconds)}; approved at the gate by ${by}`,
      ...client,
    },
  });
}

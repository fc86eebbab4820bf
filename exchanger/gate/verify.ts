/**
 * What the gate checks against GitHub's own record of the run before it trusts a delivery or
 * answers one. A delivery is signed with the webhook secret, which a repository's or an
 * organization's webhook may share (docs/refresh.md): its repository and event are taken only
 * where the run says the same, and its sha and ref too unless the job runs off the run's head (a
 * pull request's). And an answer names the run, not its attempt: GitHub applies it to whichever attempt waits
 * now, so one is sent only while the attempt it is about is still the run's latest.
 */
import { approvalContext, approvalInForce } from '../approvals/context.js';
import { closeRunRequests } from '../approvals/run-end.js';
import { effectiveStatus } from '../approvals/state.js';
import { invalidRequest } from '../errors.js';
import type { GateRun } from '../github/gate-run.js';
import type { ApprovalRequestRecord, ApprovalStatus } from '../store/approvals-types.js';
import type { GateDeployment } from './delivery.js';
import type { GateDeps, GateGroup } from './types.js';

/**
 * Events whose job does not run on the run's head (`GITHUB_SHA`, `GITHUB_REF` are not `head_sha`
 * and `head_branch`): a pull request's job runs on a merge commit (or, for `pull_request_target`,
 * on the base branch) the run does not name, so the run cannot vouch for the delivery's sha and
 * ref. Every other event's are checked.
 */
const OFF_HEAD = new Set([
  'pull_request',
  'pull_request_target',
  'pull_request_review',
  'pull_request_review_comment',
]);

/** Throws `invalid_request` when the delivery says of the run what the run does not. */
export function checkDeliveryAgainstRun(d: GateDeployment, run: GateRun): void {
  const differs = (what: string, delivered: string, actual: string) =>
    invalidRequest(
      `deployment_protection_rule: the delivery's ${what} '${delivered}' is not run ${run.id}'s ('${actual}'); not acted on`,
    );
  if (run.repositoryId !== undefined && run.repositoryId !== d.repositoryId)
    throw differs('repository id', d.repositoryId, run.repositoryId);
  if (d.event !== undefined && run.event && d.event !== run.event) throw differs('event', d.event, run.event);
  if (OFF_HEAD.has(run.event)) return;
  if (d.sha !== undefined && run.headSha && d.sha !== run.headSha.toLowerCase())
    throw differs('sha', d.sha, run.headSha);
  // A run names its branch or tag unqualified; the delivery's ref must be one of the two.
  if (d.ref !== undefined && run.headBranch !== undefined) {
    const names = [`refs/heads/${run.headBranch}`, `refs/tags/${run.headBranch}`];
    if (!names.includes(d.ref)) throw differs('ref', d.ref, run.headBranch);
  }
}

/**
 * The status a request answers the gate with. An approval stands once given: its redemption
 * window passing later (a run that still waits on another rule) is no reason to answer rejected.
 * But only while the policy in force still counts its votes, as redemption asks (`approvalInForce`):
 * an approver the policy no longer names approves nothing, here either.
 */
export async function gateStatus(
  deps: Pick<GateDeps, 'github' | 'policy'>,
  r: ApprovalRequestRecord,
  now: Date,
): Promise<ApprovalStatus> {
  if (r.status !== 'approved' && r.status !== 'redeemed') return effectiveStatus(r, now);
  if (!deps.github) return 'pending';
  const { holds } = await approvalInForce(deps.github, deps.policy(), r, now);
  return holds ? r.status : 'pending';
}

/**
 * Closes `g`'s requests when a re-run has followed the attempt they are about, and says so (true):
 * that attempt has completed (a run is re-run only then), so its requests are closed as a
 * completed run's are, and nothing is answered for it. False while it is the run's latest.
 */
export async function closeIfSuperseded(deps: GateDeps, g: GateGroup): Promise<boolean> {
  const run = await deps.gateGithub.getRun(g.installationId, g.owner, g.repo, g.run.runId);
  if (run.attempt === g.run.runAttempt) return false;
  deps.log.info('deployment gate: the run was re-run; the earlier attempt is not answered', {
    run_id: g.run.runId,
    attempt: g.run.runAttempt,
    latest_attempt: run.attempt,
    environment: g.environment,
  });
  await closeRunRequests(approvalContext(deps), g.run);
  return true;
}

/**
 * The claims a gated deployment is judged on, before any job or token exists: what GitHub's OIDC
 * token of a job of that run, in that environment, will say, as far as the delivery and the run
 * tell it. Roles are gated for a deployment when they have `approval.gate: true` and their rules
 * grant these claims. Pure functions.
 */
import type { GateRun } from '../github/gate-run.js';
import type { Evaluate, Policy, Role } from '../policy/model/types.js';
import type { GateDeployment } from './delivery.js';

/** Marks an approval request as the gate's, and keeps the installation to answer through. */
export const GATE_CLAIM = 'gate_installation_id';

export function gateClaims(d: GateDeployment, run: GateRun): Record<string, string> {
  // A delivery names the ref; the reconciler only has the run's branch name (GitHub does not say
  // branch or tag there), read as a branch.
  const ref = d.ref ?? (run.headBranch ? `refs/heads/${run.headBranch}` : undefined);
  const workflowRef = ref && run.path ? `${d.repository}/${run.path}@${ref}` : undefined;
  const out: Record<string, string> = {
    sub: `repo:${d.repository}:environment:${d.environment}`,
    repository: d.repository,
    repository_id: d.repositoryId,
    repository_owner: d.owner,
    // The delivery's, which for a pull request's run is the merge commit the job runs on (not the
    // run's head); for any other event `verify.ts` checked they are the run's.
    sha: d.sha ?? run.headSha,
    environment: d.environment,
    event_name: d.event ?? run.event,
    run_id: run.id,
    run_attempt: run.attempt,
    [GATE_CLAIM]: d.installationId,
  };
  if (ref) {
    out.ref = ref;
    out.ref_type = ref.startsWith('refs/tags/') ? 'tag' : 'branch';
  }
  if (workflowRef) {
    out.workflow_ref = workflowRef;
    // As if the job runs the workflow itself: a role granted only to a reusable workflow's jobs
    // is not gated here, and its job waits for an approval in the job, as before.
    out.job_workflow_ref = workflowRef;
  }
  if (run.actor) {
    out.actor = run.actor.login;
    out.actor_id = run.actor.id;
  }
  return out;
}

/**
 * Whether a gate request still gates its deployment under the policy in force: its role is there
 * with `approval.gate`, and its rules still grant the claims the request was opened with (each
 * request its own: a delivery's ref and the reconciler's guess may differ). A reload can take a
 * role's say away, never add one. A request opened before requests kept every gate claim (no
 * `sub`) is judged by its role alone.
 */
export function stillGates(
  policy: Policy,
  evaluate: Evaluate,
  request: { role: string; claims: Record<string, string> },
): boolean {
  const role = policy.roles.get(request.role);
  if (!role?.approval?.gate) return false;
  return request.claims.sub === undefined || evaluate(role, request.claims).granted;
}

/** The roles with `approval.gate` whose rules grant this deployment. */
export function gatedRoles(
  policy: Policy,
  evaluate: Evaluate,
  claims: Record<string, string>,
): { roles: Role[]; why: string } {
  const candidates = [...policy.roles.values()].filter((r) => r.approval?.gate);
  const roles = candidates.filter((r) => evaluate(r, claims).granted);
  const why =
    candidates.length === 0
      ? 'the policy has no role with approval.gate'
      : `${candidates.length} role(s) with approval.gate, none of whose rules grant repository ${claims.repository}, ref ${claims.ref ?? '(unknown)'}, environment ${claims.environment}`;
  return { roles, why };
}

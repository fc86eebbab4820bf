/**
 * Links to GitHub for a request: the run attempt, and the workflow file at the exact commit the
 * job ran (`job_workflow_sha`, not a branch that may have moved since). Built from the recorded
 * claims, each part URL-encoded; a claim that is missing or not of GitHub's shape gives no link.
 */

const NAME = /^[A-Za-z0-9_.-]+$/;
const DIGITS = /^\d{1,20}$/;
const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

export function runUrl(web: string, claims: Readonly<Record<string, string>>): string | undefined {
  const [owner, repo, extra] = (claims.repository ?? '').split('/');
  const { run_id: runId, run_attempt: attempt } = claims;
  if (!owner || !repo || extra !== undefined || !NAME.test(owner) || !NAME.test(repo)) return undefined;
  if (!runId || !DIGITS.test(runId) || !attempt || !DIGITS.test(attempt)) return undefined;
  return `${web}/${owner}/${repo}/actions/runs/${runId}/attempts/${attempt}`;
}

/** `owner/repo/.github/workflows/x.yml@ref` at `job_workflow_sha` → its blob URL. */
export function workflowUrl(web: string, claims: Readonly<Record<string, string>>): string | undefined {
  const ref = claims.job_workflow_ref ?? claims.workflow_ref;
  const sha = claims.job_workflow_sha;
  if (!ref || !sha || !SHA.test(sha)) return undefined;
  const at = ref.lastIndexOf('@');
  const [owner, repo, ...path] = (at < 0 ? ref : ref.slice(0, at)).split('/');
  if (!owner || !repo || !NAME.test(owner) || !NAME.test(repo) || path.length === 0) return undefined;
  if (path.some((p) => p === '' || p === '.' || p === '..')) return undefined;
  return `${web}/${owner}/${repo}/blob/${sha}/${path.map(encodeURIComponent).join('/')}`;
}

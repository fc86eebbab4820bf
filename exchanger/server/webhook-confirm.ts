/**
 * A `workflow_run completed` delivery ends a run attempt's leases, and it is signed with the
 * webhook secret, which whoever set up a repository's or an organization's webhook knows
 * (docs/refresh.md). With the GitHub App configured, the attempt is first asked of GitHub: a
 * delivery for an attempt GitHub says is still running, or of another repository, or that GitHub
 * knows nothing of, is refused. When GitHub cannot be asked (down, rate limited, the App not
 * installed there), the delivery is acted on, as without the App: a revocation held back is the
 * worse failure than one that came early.
 */
import { JitkeyError } from '../errors.js';
import type { RunAttempts } from '../github/run-attempts.js';
import type { Logger } from '../log.js';
import type { RunKey } from '../store/runs-types.js';

/** Why the delivery is refused, or undefined when it may be acted on. */
export async function refuteCompletion(
  runs: Pick<RunAttempts, 'getRunAttempt'> | undefined,
  fullName: unknown,
  run: RunKey,
  log: Logger,
): Promise<string | undefined> {
  if (!runs) return undefined;
  const [owner, repo, extra] = typeof fullName === 'string' ? fullName.split('/') : [];
  if (!owner || !repo || extra !== undefined) return 'the workflow_run payload names no repository.full_name';
  const what = `run ${run.runId} attempt ${run.runAttempt} of ${owner}/${repo}`;
  let attempt: Awaited<ReturnType<RunAttempts['getRunAttempt']>>;
  try {
    attempt = await runs.getRunAttempt(owner, repo, run.runId, run.runAttempt);
  } catch (err) {
    if (err instanceof JitkeyError && err.code === 'access_denied') return `GitHub knows no ${what}`;
    log.warn('could not ask GitHub whether a run attempt completed; its leases end on the delivery alone', {
      run_id: run.runId,
      run_attempt: run.runAttempt,
      error: err as Error,
    });
    return undefined;
  }
  if (attempt.repositoryId !== undefined && attempt.repositoryId !== run.repositoryId)
    return `${what} is of repository ${attempt.repositoryId}, not ${run.repositoryId} as the delivery says`;
  if (attempt.status !== undefined && attempt.status !== 'completed')
    return `GitHub says ${what} is ${attempt.status}, not completed`;
  return undefined;
}

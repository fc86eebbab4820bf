/**
 * Run attempts: who started this attempt of a workflow run, and whose run is it? Asked with the
 * exchanger's own Actions: read token (see internal-token.ts); nothing here is cached.
 */
import { JitkeyError } from '../errors.js';
import type { GithubClient } from './client.js';
import { githubStatus } from './errors.js';
import { ACTIONS_READ, ACTIONS_READ_MISSING, type AsExchanger, readFailure } from './internal-token.js';

export interface RunAttempt {
  actorId?: string;
  triggeringActorId?: string;
  triggeringActorLogin?: string;
}

export interface RunAttempts {
  /**
   * Who started a run attempt (`triggering_actor`: whoever clicked re-run) and whose run it is
   * (`actor`), as GitHub user ids. Needs Actions: read; throws `upstream_error` when GitHub cannot
   * answer, `access_denied` when it knows no such run attempt.
   */
  getRunAttempt(owner: string, repo: string, runId: string, attempt: string): Promise<RunAttempt>;
}

export function createRunAttempts(client: GithubClient, asExchanger: AsExchanger): RunAttempts {
  return {
    async getRunAttempt(owner, repo, runId, attempt) {
      const what = `run ${runId} attempt ${attempt} of ${owner}/${repo}`;
      try {
        return await asExchanger(owner, ACTIONS_READ, async (auth) => {
          const { data } = await client.octokit.rest.actions.getWorkflowRunAttempt({
            owner,
            repo,
            run_id: Number(runId),
            attempt_number: Number(attempt),
            ...auth,
          });
          const id = (u: { id?: number } | null | undefined) =>
            u?.id === undefined ? undefined : String(u.id);
          const actorId = id(data.actor);
          const triggeringActorId = id(data.triggering_actor);
          return {
            ...(actorId ? { actorId } : {}),
            ...(triggeringActorId ? { triggeringActorId } : {}),
            ...(data.triggering_actor?.login ? { triggeringActorLogin: data.triggering_actor.login } : {}),
          };
        });
      } catch (e) {
        if (e instanceof JitkeyError) throw e;
        if (githubStatus(e) === 404) {
          throw new JitkeyError('access_denied', `GitHub knows no ${what}: the approval is refused`);
        }
        throw readFailure(`asking GitHub who started ${what}`, e, ACTIONS_READ_MISSING);
      }
    },
  };
}

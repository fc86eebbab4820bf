/**
 * Environments of a repository: is this environment there, and what protects it? Asked with the
 * exchanger's own Actions: read token (see internal-token.ts); nothing here is cached.
 */
import type { GithubClient } from './client.js';
import { githubStatus } from './errors.js';
import { ACTIONS_READ, ACTIONS_READ_MISSING, type AsExchanger, readFailure } from './internal-token.js';

export interface EnvironmentInfo {
  name: string;
  /** The `type` of each protection rule: `required_reviewers`, `wait_timer`, `branch_policy`, … */
  protectionRules: string[];
  /** `deployment_branch_policy` is set (protected branches or custom branch patterns). */
  deploymentBranchPolicy: boolean;
}

export interface Environments {
  /** The environment, or `undefined` when GitHub answers 404. Needs the App's Actions: read permission. */
  getEnvironment(owner: string, repo: string, name: string): Promise<EnvironmentInfo | undefined>;
}

export function createEnvironments(client: GithubClient, asExchanger: AsExchanger): Environments {
  return {
    async getEnvironment(owner, repo, name) {
      try {
        return await asExchanger(owner, ACTIONS_READ, async (auth) => {
          try {
            const { data } = await client.octokit.rest.repos.getEnvironment({
              owner,
              repo,
              environment_name: name,
              ...auth,
            });
            return {
              name: data.name,
              protectionRules: (data.protection_rules ?? []).map((r) => String(r.type)),
              deploymentBranchPolicy: data.deployment_branch_policy != null,
            };
          } catch (e) {
            if (githubStatus(e) === 404) return undefined;
            throw e;
          }
        });
      } catch (e) {
        throw readFailure(`reading environment '${name}' of ${owner}/${repo}`, e, ACTIONS_READ_MISSING);
      }
    },
  };
}

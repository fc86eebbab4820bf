/**
 * Environments of a repository: is this environment there, and what protects it? Asked with the
 * exchanger's own Actions: read token (see internal-token.ts); nothing here is cached.
 */
import type { GithubClient } from './client.js';
import { ACTIONS_READ, ACTIONS_READ_MISSING, type AsExchanger, readOrNotFound } from './internal-token.js';

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
    getEnvironment: (owner, repo, name) =>
      readOrNotFound(
        asExchanger,
        owner,
        [ACTIONS_READ, ACTIONS_READ_MISSING],
        `reading environment '${name}' of ${owner}/${repo}`,
        async (auth) => {
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
        },
        undefined,
      ),
  };
}

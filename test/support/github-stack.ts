/**
 * `jitkey serve` with the GitHub stand-in as its App, for the suites about GitHub App roles:
 *
 *   ({ gh, stack } = await startGithubStack({ roles: githubRole() }));
 */
import {
  type GithubStandin,
  githubAppEnv,
  type StandinInstallation,
  startGithubStandin,
} from './github-standin.js';
import { policyFor, type Stack, startStack } from './stack.js';

/** A role that writes to acme/infra through the App, named `name` and pinned by `pin`. */
export const githubRole = (name = 'bump-deps', pin = 'repository_owner_id: "7890"') => `  ${name}:
    provider: github
    github: { repositories: [acme/infra], permissions: { contents: write } }
    allow:
      - ${pin}
`;

/** The App's installation on acme, covering infra with contents: write (what githubRole needs). */
export const ACME_INFRA: StandinInstallation = {
  owner: 'acme',
  permissions: { contents: 'write' },
  repositories: ['infra'],
};

export async function startGithubStack(options: {
  /** The policy's roles block (policyFor's). */
  roles: string;
  installations?: StandinInstallation[];
  /** More exchanger environment, besides the App's. */
  env?: Record<string, string>;
}): Promise<{ gh: GithubStandin; stack: Stack }> {
  const gh = await startGithubStandin({ installations: options.installations ?? [ACME_INFRA] });
  try {
    const stack = await startStack({
      policy: (issuer) => policyFor(issuer, options.roles),
      exchanger: { env: { ...githubAppEnv(gh), ...options.env } },
    });
    return { gh, stack };
  } catch (err) {
    await gh.stop();
    throw err;
  }
}

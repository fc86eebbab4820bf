/**
 * The stand-in issuers of the four-CI policy (`ci-policy.ts`) on loopback: GitHub, two GitLab
 * instances, Buildkite and a CircleCI organization, each minting its own system's claims.
 */
import { CIRCLECI_ORG_ID } from './ci-claims.js';
import type { CiIssuers } from './ci-policy.js';
import { type OidcIssuer, startOidcIssuer } from './oidc-issuer.js';

export type CiStandins = Record<keyof CiIssuers, OidcIssuer> & {
  urls: CiIssuers;
  stop(): Promise<void>;
};

export async function startCiIssuers(): Promise<CiStandins> {
  const [github, gitlab, gitlab2, buildkite, circleci] = await Promise.all([
    startOidcIssuer(),
    startOidcIssuer({ shape: 'gitlab' }),
    startOidcIssuer({ shape: 'gitlab' }),
    startOidcIssuer({ shape: 'buildkite' }),
    startOidcIssuer({ shape: 'circleci', path: `/org/${CIRCLECI_ORG_ID}`, audience: CIRCLECI_ORG_ID }),
  ]);
  const all = { github, gitlab, gitlab2, buildkite, circleci };
  return {
    ...all,
    urls: {
      github: github.url,
      gitlab: gitlab.url,
      gitlab2: gitlab2.url,
      buildkite: buildkite.url,
      circleci: circleci.url,
    },
    stop: async () => {
      await Promise.all(Object.values(all).map((i) => i.stop()));
    },
  };
}

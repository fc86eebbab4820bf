/**
 * One policy over four CI systems (GitHub, two GitLab instances, Buildkite, CircleCI), for the
 * unit tests and the end-to-end test alike: the issuers' urls are given (loopback stand-ins in
 * e2e), the rules pin the claims `ci-claims.ts` mints.
 */
import { CIRCLECI_ORG_ID } from './ci-claims.js';

export interface CiIssuers {
  github: string;
  gitlab: string;
  /** A second GitLab instance: its tokens are another issuer's. */
  gitlab2: string;
  buildkite: string;
  circleci: string;
}

export const ROLE_ARN = 'arn:aws:iam::111122223333:role/ci-deploy';

export function fourCiPolicy(u: CiIssuers, extra = ''): string {
  return `version: 1
issuers:
  - { url: ${u.github}, audience: jitkey }
  - { url: ${u.gitlab}, audience: jitkey, kind: gitlab }
  - { url: ${u.gitlab2}, audience: jitkey, kind: gitlab }
  - { url: ${u.buildkite}, audience: jitkey, kind: buildkite }
  - { url: ${u.circleci}, audience: ${CIRCLECI_ORG_ID}, kind: circleci }
defaults: { duration: 15m, max_duration: 1h }
roles:
  web-deploy:
    description: acme/web from GitHub, my-group/my-project from GitLab
    provider: aws
    aws: { role_arn: ${ROLE_ARN}, region: us-east-1 }
    issuers: [${u.github}, ${u.gitlab}]
    allow:
      - issuer: ${u.github}
        repository_id: "123456"
        ref: refs/heads/main
        environment: production
      - issuer: ${u.gitlab}
        project_id: "20"
        ref_protected: "true"
        environment_protected: "true"
        environment: production
    deny:
      - issuer: ${u.github}
        event_name: [pull_request, pull_request_target, pull_request_review, pull_request_review_comment, workflow_run]
  gitlab-deploy:
    provider: aws
    aws: { role_arn: ${ROLE_ARN}, region: us-east-1 }
    issuers: [${u.gitlab}]
    allow:
      - project_id: "20"
        project_path: my-group/my-project
        ref_protected: "true"
  buildkite-deploy:
    provider: aws
    aws: { role_arn: ${ROLE_ARN}, region: us-east-1 }
    issuers: [${u.buildkite}]
    allow:
      - organization_id: 0184990a-477b-4fa8-9968-496074483a77
        pipeline_id: 0184990a-4782-42b5-afc1-16715b10b1a0
        build_branch: main
    deny:
      - build_source: [schedule, trigger_job]
  circleci-deploy:
    provider: aws
    aws: { role_arn: ${ROLE_ARN}, region: us-east-1 }
    issuers: [${u.circleci}]
    allow:
      - oidc.circleci.com/project-id: c4f1e2d3-a5b6-4c7d-8e9f-0a1b2c3d4e5f
        oidc.circleci.com/vcs-ref: refs/heads/main
        oidc.circleci.com/ssh-rerun: "false"
${extra}`;
}

/** The issuers as the unit tests write them (the e2e test uses its stand-ins' urls). */
export const CI_URLS: CiIssuers = {
  github: 'https://token.actions.githubusercontent.com',
  gitlab: 'https://gitlab.com',
  gitlab2: 'https://gitlab.acme.internal',
  buildkite: 'https://agent.buildkite.com',
  circleci: `https://oidc.circleci.com/org/${CIRCLECI_ORG_ID}`,
};

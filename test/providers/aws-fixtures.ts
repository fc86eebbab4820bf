/** Shared fixtures for the AWS provider tests (not a test file itself). */
import type { Claims } from '../../exchanger/claims.js';
import type { AwsRoleConfig, Role } from '../../exchanger/policy/model/types.js';
import type { MintRequest } from '../../exchanger/providers/types.js';

export const KEY = { accessKeyId: 'AKIAJITKEYTEST00001', secretAccessKey: 'jitkey/test+secret/key' };
export const ROLE_ARN = 'arn:aws:iam::111122223333:role/deploy/web-deploy';

export function awsRole(aws: Partial<AwsRoleConfig> = {}, name = 'deploy-web-prod'): Role {
  return {
    name,
    provider: 'aws',
    aws: { roleArn: ROLE_ARN, ...aws },
    durationSeconds: 900,
    maxDurationSeconds: 3600,
    allow: [],
    deny: [],
    requireProtectedEnvironment: false,
  };
}

export const CLAIMS: Claims = {
  iss: 'https://token.actions.githubusercontent.com',
  aud: 'jitkey',
  sub: 'repo:acme/web:environment:production',
  repository: 'acme/web',
  repository_id: '123456',
  repository_owner: 'acme',
  repository_owner_id: '7890',
  ref: 'refs/heads/main',
  environment: 'production',
  event_name: 'push',
  actor: 'octocat',
  actor_id: '583231',
  run_id: '9876543210',
  run_attempt: '2',
  head_ref: '',
  jti: 'b5a1c0de-0000-4000-8000-000000000001',
};

export function mintRequest(overrides: Partial<MintRequest> = {}): MintRequest {
  return {
    role: awsRole(),
    claims: CLAIMS,
    durationSeconds: 900,
    requestId: 'req-1',
    leaseId: 'lease_01HZXAMPLE0000000000000000',
    ...overrides,
  };
}

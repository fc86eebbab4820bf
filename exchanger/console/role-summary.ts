/**
 * What a request's role grants and where the policy says so, for the request page: the provider's
 * resource (ARN, service account, repositories and permissions, namespace), the file and line of
 * the role, and which allow rule holds on the claims recorded with the request.
 */
import { basename } from 'node:path';
import { evaluateRule } from '../policy/evaluate/evaluate.js';
import type { Policy, Role } from '../policy/model/types.js';

export interface RoleSummary {
  provider: string;
  /** `[label, value]` pairs, in the order shown. */
  grants: Array<readonly [string, string]>;
  /** `policy.yaml:12`, when the policy says where. */
  definedAt?: string;
  /** `allow[0] (policy.yaml:18)` when one holds on the recorded claims. */
  matchedRule?: string;
}

function grantsOf(role: Role): RoleSummary['grants'] {
  if (role.aws) {
    return [
      ['AWS role', role.aws.roleArn],
      ...(role.aws.region ? [['Region', role.aws.region] as const] : []),
      ...(role.aws.sessionPolicy ? [['Session policy', 'an inline policy narrows the role'] as const] : []),
    ];
  }
  if (role.gcp) {
    return [
      ['Service account', role.gcp.serviceAccount],
      ['Scopes', role.gcp.scopes.join(', ')],
    ];
  }
  if (role.github) {
    return [
      ['Repositories', role.github.repositories.map((r) => `${role.github!.owner}/${r}`).join(', ')],
      [
        'Permissions',
        Object.entries(role.github.permissions)
          .map(([name, level]) => `${name}: ${level}`)
          .join(', '),
      ],
    ];
  }
  if (role.kubernetes) {
    return [
      ['Cluster', role.kubernetes.server],
      ['Namespace', role.kubernetes.namespace],
      ['Service account', role.kubernetes.serviceAccount],
    ];
  }
  return [];
}

export function roleSummary(
  policy: Policy,
  roleName: string,
  claims: Readonly<Record<string, string>>,
): RoleSummary | undefined {
  const role = policy.roles.get(roleName);
  if (!role) return undefined;
  // The file's name, not the server's path to it: approvers need the one, not the other.
  const file = basename(role.source ?? policy.source ?? 'the policy');
  const at = (line: number | undefined) => (line === undefined ? file : `${file}:${line}`);
  const held = role.allow.find((rule) => evaluateRule(rule, claims).held);
  return {
    provider: role.provider,
    grants: grantsOf(role),
    definedAt: at(role.position?.line),
    ...(held ? { matchedRule: `allow[${held.index}] (${at(held.position?.line)})` } : {}),
  };
}

/**
 * The validated policy, before compilation: plain values with their positions. `lint` reads
 * this (it needs the patterns as written); `compile` turns it into the `Policy` of `types.ts`.
 */
import type {
  ApprovalConfig,
  AwsRoleConfig,
  GcpRoleConfig,
  IssuerConfig,
  KubernetesRoleConfig,
  ProviderName,
  SourcePosition,
} from './types.js';

export interface PatternDoc {
  value: string;
  position: SourcePosition;
}

export interface ConditionDoc {
  claim: string;
  /** Given under `claims:` rather than as an OIDC condition key. */
  custom: boolean;
  /** One or more patterns: the condition holds when any matches. */
  patterns: PatternDoc[];
  position: SourcePosition;
}

export interface RuleDoc {
  kind: 'allow' | 'deny';
  index: number;
  conditions: ConditionDoc[];
  position: SourcePosition;
}

export interface GithubRoleDoc {
  /** `owner/name`, all with one owner (checked). */
  repositories: string[];
  permissions: Record<string, 'read' | 'write' | 'admin'>;
}

export interface RoleDoc {
  name: string;
  position: SourcePosition;
  description?: string;
  /** Undefined only when the file had an error there (then the policy does not compile). */
  provider?: ProviderName;
  aws?: AwsRoleConfig;
  gcp?: GcpRoleConfig;
  github?: GithubRoleDoc;
  kubernetes?: KubernetesRoleConfig;
  durationSeconds: number;
  maxDurationSeconds: number;
  requireProtectedEnvironment: boolean;
  approval?: ApprovalConfig;
  allow: RuleDoc[];
  deny: RuleDoc[];
}

export interface PolicyDoc {
  file: string;
  issuers: IssuerConfig[];
  defaults: { durationSeconds: number; maxDurationSeconds: number };
  roles: RoleDoc[];
}

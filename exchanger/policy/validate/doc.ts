/**
 * The validated policy, before compilation: plain values with their positions. `lint` reads
 * this (it needs the patterns as written); `compile` turns it into the `Policy` of `types.ts`.
 */

import type { ClaimForm, IssuerKind } from '../../ci-kinds.js';
import type {
  ApprovalConfig,
  AwsRoleConfig,
  GcpRoleConfig,
  IssuerConfig,
  KubernetesRoleConfig,
  ProviderName,
  SlackUser,
  SourcePosition,
} from '../model/types.js';
import type { ClusterNames, ResourcesDoc } from './resources.js';

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
  /** Set by `issuer-kinds.ts` from the rule's issuer kinds: compared case-insensitively. */
  fold?: boolean;
  /** Set by `issuer-kinds.ts`: how the issuer writes the claim (a number, a list). */
  form?: ClaimForm;
}

export interface RuleDoc {
  kind: 'allow' | 'deny';
  index: number;
  conditions: ConditionDoc[];
  position: SourcePosition;
  /** `issuer:`: the rule holds only for tokens of this issuer. */
  issuer?: PatternDoc;
  /** Every key written in the rule, valid or not (a pin whose value was refused still counts). */
  written?: string[];
  /** The issuer kinds whose tokens the rule is read for (`issuer-kinds.ts`). */
  kinds?: IssuerKind[];
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
  /** `forbid_actions:` as written (`iam:CreateUser`): actions whose use with this role is flagged. */
  forbidActions?: string[];
  /** `issuers:` as written: the issuer urls whose tokens may get this role. */
  issuers?: PatternDoc[];
  /** In a directory, `teams.<team>.issuers` of org.yaml: the binding when the role names none. */
  teamIssuers?: string[];
  /** The kinds of the issuers the role is bound to (`issuer-kinds.ts`); undefined: github. */
  kinds?: IssuerKind[];
  allow: RuleDoc[];
  deny: RuleDoc[];
  /** Where `provider` and `max_duration` are written, for org ceiling errors. */
  providerPosition?: SourcePosition;
  maxDurationPosition?: SourcePosition;
  /** Where the provider block names what it grants (`role_arn`, `service_account`, …). */
  resourcePosition?: SourcePosition;
}

/** `admins:`: who may use the console; both lists lower-cased. */
export interface AdminsDoc {
  logins: string[];
  /** `org/team-slug`. */
  teams: string[];
}

export interface PolicyDoc {
  file: string;
  issuers: IssuerConfig[];
  defaults: { durationSeconds: number; maxDurationSeconds: number };
  admins: AdminsDoc;
  /** `slack_users`: Slack user id → GitHub account. */
  slackUsers?: Map<string, SlackUser>;
  roles: RoleDoc[];
}

/** Which roles a guardrail applies to: every given key must hold (an empty selector: every role). */
export interface SelectorDoc {
  /** Globs over role names (`prod-*`), matched case-insensitively as role names are unique so. */
  roles?: string[];
  /** `aws`, `gcp`, `kubernetes`, `github` blocks: the role grants a resource one of them holds. */
  resources?: ResourcesDoc;
  providers?: ProviderName[];
  /** Team names (the team file's name without `.yaml`). */
  teams?: string[];
  /** `true`: privileged roles only (see `isPrivileged`, resource-match.ts); `false`: the others. */
  write?: boolean;
}

export interface GuardrailDoc {
  name: string;
  description?: string;
  file: string;
  position: SourcePosition;
  appliesTo: SelectorDoc;
  deny: RuleDoc[];
}

export interface TeamLimitsDoc {
  providers?: ProviderName[];
  /** What the team's roles may grant; a provider without a block here cannot be granted. */
  resources?: ResourcesDoc;
  /** Issuer urls the team's roles are bound to (and may narrow). */
  issuers?: string[];
  maxDurationSeconds?: number;
  position: SourcePosition;
}

/** `org.yaml`: what the platform team decides for every team file. */
export interface OrgDoc {
  file: string;
  issuers: IssuerConfig[];
  defaults: { durationSeconds: number; maxDurationSeconds: number };
  admins: AdminsDoc;
  slackUsers?: Map<string, SlackUser>;
  ceilings: { maxDurationSeconds?: number; providers?: ProviderName[] };
  teams: Map<string, TeamLimitsDoc>;
  /** Resources more than one team may grant; nothing else may be granted by two teams. */
  shared: SharedDoc[];
  guardrails: GuardrailDoc[];
  /** Server URLs that name one cluster, from the exchanger's credentials (`resource-match.ts`). */
  clusters: ClusterNames;
}

export interface SharedDoc {
  teams: string[];
  resources: ResourcesDoc;
  position: SourcePosition;
}

/** One team file: the repositories it may grant to, and its roles. */
export interface TeamDoc {
  file: string;
  team: string;
  owners: PatternDoc[];
  roles: RoleDoc[];
}

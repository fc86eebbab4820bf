/**
 * The compiled policy: what `policy/load/compile.ts` produces from a parsed YAML file and what
 * `policy/evaluate.ts` and the server read. Durations are whole seconds.
 */
import type { ClaimForm, IssuerKind } from '../../ci-kinds.js';
import type { Claims } from '../../claims.js';

export type ProviderName = 'aws' | 'gcp' | 'github' | 'kubernetes';

/** Where something stands in the policy file, for errors and `explain`. 1-based. */
export interface SourcePosition {
  line: number;
  col: number;
}

export interface IssuerConfig {
  /** Compared byte for byte with the token's `iss`. */
  url: string;
  /** The token's `aud` must equal this (a string, or an array holding only it). */
  audience: string;
  /** The CI system issuing the tokens (`ci-kinds.ts`); undefined is `github`. */
  kind?: IssuerKind;
  /** `exp - iat` accepted (the kind's default, or `max_token_lifetime`); undefined: the verifier's floor. */
  maxLifetimeSeconds?: number;
  /** `token`: tokens without `jti` are single use by their SHA-256 (Buildkite, CircleCI). */
  replay?: 'jti' | 'token';
}

export interface AwsRoleConfig {
  roleArn: string;
  region?: string;
  /** Inline session policy document, passed to STS as JSON. */
  sessionPolicy?: Record<string, unknown>;
  /** Tag key → template such as `${repository}`, expanded from the token's claims. */
  sessionTags?: Record<string, string>;
}

export interface GcpRoleConfig {
  serviceAccount: string;
  scopes: string[];
  delegates: string[];
  allowExtendedLifetime: boolean;
}

export interface GithubRoleConfig {
  /** The one owner all `repositories` belong to: the App installation is looked up by it. */
  owner: string;
  /** Repository names without the owner, as GitHub's access-token API takes them. */
  repositories: string[];
  /** GitHub's permission names → `read` | `write` | `admin`. */
  permissions: Record<string, 'read' | 'write' | 'admin'>;
}

export interface KubernetesRoleConfig {
  /** The API server URL the job's kubeconfig names (https; http only on loopback). Trailing `/` dropped. */
  server: string;
  /** Base64 PEM of the CA the job trusts for `server`; optional for http on loopback. */
  caData?: string;
  namespace: string;
  serviceAccount: string;
  /** TokenRequest audiences; empty means the API server's own. */
  audiences: string[];
}

/** Where `approval.notify` sends a new request: a JSON webhook, or a Slack incoming webhook. */
export type NotifyTarget =
  | string
  | {
      slack: string;
      /** Approve / Deny buttons in the message: set when the role has `chat_decisions`. */
      buttons?: boolean;
    };

export interface Escalation {
  afterSeconds: number;
  /** People (`login`, or `login:id` matched on the user id: `person.ts`), or `org/team-slug`. */
  approvers: string[];
  notify?: NotifyTarget;
}

/** A PagerDuty user as `oncall_users` names one: by email (lower case) or by user id. */
export type OnCallUser = { email: string } | { id: string };

export interface OnCallApproval {
  pagerduty: { scheduleIds: string[] };
  /** `id:<GitHub user id>` or `login:<login, lower case>` → the PagerDuty user. */
  users: ReadonlyMap<string, OnCallUser>;
  /** Auto-approvals of the role per UTC day, counted in the audit trail. */
  maxPerDay: number;
}

export interface ApprovalConfig {
  /** People (`login`, or `login:id` matched on the user id: `person.ts`), or `org/team-slug`. */
  approvers: string[];
  required: number;
  timeoutSeconds: number;
  /** A JSON webhook's URL, or a Slack incoming webhook's (`approvals/slack.ts`). */
  notify?: NotifyTarget;
  /**
   * Asked at GitHub's deployment gate (`deployment_protection_rule`), before a job of a
   * deployment these rules grant starts, rather than in the job (docs/approvals.md).
   */
  gate?: boolean;
  /** Named people whose runs get the role at once; each use is reviewed afterwards (`approvals/break-glass.ts`). */
  breakGlass?: { allowed: string[]; reviewsRequired: number };
  /**
   * `chat_decisions`: approvers may decide from Slack's buttons too (`approvals/slack-interactions.ts`).
   * Opt-in: a chat account is a weaker identity than a GitHub sign-in.
   */
  chatDecisions?: boolean;
  /** `remind_every`: `notify` is told again this often while a request is pending (`approvals/nudge.ts`). */
  remindEverySeconds?: number;
  /** `escalate`: from `afterSeconds` on, these approvers may decide too and `notify` is told. */
  escalate?: Escalation;
  /** `auto_approve_on_call`: approved at once when the job's actor is on call (`approvals/on-call.ts`). */
  autoApproveOnCall?: OnCallApproval;
}

/** A compiled matcher for one condition value (or a list of them). */
export type Matcher = (value: string) => boolean;

export interface Condition {
  /** The claim name: an OIDC claim from `claims.ts`, or a custom one given under `claims:`. */
  claim: string;
  matches: Matcher;
  /** How the issuer writes the claim (`ci-kinds.ts`); undefined: a string. */
  form?: ClaimForm;
  /**
   * A guardrail's condition only: the issuers (urls) whose kind never carries the claim. For their
   * tokens it holds, whatever value they carry: a guardrail denies what it cannot check
   * (`load/compile.ts`).
   */
  unreadFor?: ReadonlySet<string>;
  /** A guardrail's condition: a value that is not one its patterns read (`not_string`) holds. */
  failClosed?: boolean;
  /**
   * A guardrail's condition only: the issuers whose kind carries the claim only when the job asks
   * for it (Buildkite's `queue_key`). For their tokens a missing claim holds: the job left it out.
   */
  missingHoldsFor?: ReadonlySet<string>;
  position?: SourcePosition;
}

export interface Rule {
  kind: 'allow' | 'deny';
  /** 0-based index within its list, for messages ("allow[1]"). */
  index: number;
  conditions: Condition[];
  position?: SourcePosition;
}

export interface Role {
  name: string;
  description?: string;
  provider: ProviderName;
  aws?: AwsRoleConfig;
  gcp?: GcpRoleConfig;
  github?: GithubRoleConfig;
  kubernetes?: KubernetesRoleConfig;
  /** Granted when a request names no duration. */
  durationSeconds: number;
  /** A request above this is refused, never shortened. */
  maxDurationSeconds: number;
  allow: Rule[];
  deny: Rule[];
  requireProtectedEnvironment: boolean;
  approval?: ApprovalConfig;
  /**
   * Upstream actions (`iam:CreateUser`, `s3:Delete*`; Kubernetes `delete secrets`, `* pods/exec`:
   * `kubernetes-actions.ts`) that must never be done with this role's
   * credentials: a lease whose activity shows one is flagged (`activity/forbidden.ts`).
   */
  forbidActions?: readonly string[];
  /**
   * The issuers whose tokens may get this role (the token's verified `iss`). Undefined: the
   * policy's only issuer (a policy with several refuses to load an unbound role).
   */
  issuers?: readonly string[];
  position?: SourcePosition;
  /** The file it is defined in, when the policy is a directory. */
  source?: string;
  /** The org guardrails that select this role, checked before its own rules. */
  guardrails?: readonly Guardrail[];
}

/** A deny list from `org.yaml` that team files cannot weaken. */
export interface Guardrail {
  name: string;
  /** The file it is defined in (`org.yaml`). */
  source: string;
  position?: SourcePosition;
  deny: Rule[];
}

/** A GitHub account as `slack_users` names it: the login for approver lists, the id for self-approval. */
export interface SlackUser {
  login: string;
  /** The GitHub user id, as a string like the `actor_id` claim. */
  id: string;
}

export interface Policy {
  version: 1;
  issuers: IssuerConfig[];
  defaults: { durationSeconds: number; maxDurationSeconds: number };
  /**
   * Who may use the console: GitHub logins (or `login:id`, matched on the user id) and
   * `org/team-slug`s, lower-cased (GitHub compares both case-insensitively). Empty when the
   * policy names none.
   */
  admins: { logins: readonly string[]; teams: readonly string[] };
  roles: ReadonlyMap<string, Role>;
  /**
   * `slack_users`: Slack user id → the GitHub account it decides as. The only way a Slack click
   * becomes a person; absent or empty, no Slack decision is taken.
   */
  slackUsers?: ReadonlyMap<string, SlackUser>;
  /** The file it came from, for logs. */
  source?: string;
}

/** `unread`: a guardrail's condition on a claim the token's issuer never carries (it holds). */
export type ConditionReason = 'held' | 'mismatch' | 'missing' | 'not_string' | 'unread';

export interface ConditionOutcome {
  claim: string;
  held: boolean;
  reason: ConditionReason;
  /** The token's own value, when it was a string. Never the policy's expected value. */
  actual?: string;
  /** For `not_string`: what the token held instead (`number`, `boolean`, `null`, `array`, `object`). */
  actualType?: string;
}

export interface RuleOutcome {
  kind: 'allow' | 'deny';
  index: number;
  held: boolean;
  conditions: ConditionOutcome[];
}

/**
 * What decided: the token's issuer not being one the role is bound to, a guardrail, one of the
 * role's deny rules, no allow rule holding, or an allow rule (granted). `jitkey test` fixtures name these as their expected `reason`.
 */
export type DecisionCode = 'granted' | 'issuer' | 'guardrail' | 'deny_rule' | 'no_allow_rule';

export interface GuardrailOutcome {
  name: string;
  source: string;
  held: boolean;
  deny: RuleOutcome[];
}

export interface Decision {
  role: string;
  granted: boolean;
  code: DecisionCode;
  /** The guardrail that denied, when `code` is `guardrail`. */
  guardrail?: string;
  /** Present when guardrails select the role. */
  guardrails?: GuardrailOutcome[];
  allow: RuleOutcome[];
  deny: RuleOutcome[];
  /** One line for the client and the audit: which rule decided, or why none held. */
  reason: string;
}

export type Evaluate = (role: Role, claims: Claims) => Decision;

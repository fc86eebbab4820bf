/**
 * Every key the policy file may hold, in one place: the validator reads these sets and a test
 * walks them against `schema/policy.schema.json` so the two cannot drift.
 */
import { ALL_KIND_CLAIMS } from '../../ci-kinds.js';

export const POLICY_KEYS = ['version', 'issuers', 'defaults', 'admins', 'slack_users', 'roles'] as const;
export const ISSUER_KEYS = ['url', 'audience', 'kind', 'max_token_lifetime'] as const;
export const DEFAULTS_KEYS = ['duration', 'max_duration'] as const;
export const ROLE_KEYS = [
  'description',
  'provider',
  'aws',
  'gcp',
  'github',
  'kubernetes',
  'duration',
  'max_duration',
  'require_protected_environment',
  'approval',
  'issuers',
  'allow',
  'deny',
  'forbid_actions',
] as const;
export const AWS_KEYS = ['role_arn', 'region', 'session_policy', 'session_tags'] as const;
export const GCP_KEYS = ['service_account', 'scopes', 'delegates', 'allow_extended_lifetime'] as const;
export const GITHUB_KEYS = ['repositories', 'permissions'] as const;
export const KUBERNETES_KEYS = ['server', 'ca_data', 'namespace', 'service_account', 'audiences'] as const;
export const APPROVAL_KEYS = [
  'approvers',
  'required',
  'timeout',
  'notify',
  'gate',
  'break_glass',
  'chat_decisions',
  'remind_every',
  'escalate',
  'auto_approve_on_call',
] as const;
/** `approval.auto_approve_on_call`: approved at once when the job's actor is on call now. */
export const AUTO_APPROVE_KEYS = ['pagerduty', 'oncall_users', 'max_per_day'] as const;
export const PAGERDUTY_KEYS = ['schedule_ids'] as const;
/** `approval.escalate`: a second list of approvers, from a delay on. */
export const ESCALATE_KEYS = ['after', 'approvers', 'notify'] as const;
export const BREAK_GLASS_KEYS = ['allowed', 'reviews_required'] as const;
/** One `slack_users` entry: the GitHub account a Slack user decides as. */
export const SLACK_USER_KEYS = ['login', 'id'] as const;
/** `approval.notify` as a map: `{ slack: URL }`. */
export const NOTIFY_KEYS = ['slack'] as const;
/**
 * A rule's keys: the claims of every issuer kind (`ci-kinds.ts`; which of them a rule may name
 * depends on its issuers' kinds, `issuer-kinds.ts`), `issuer` (the rule holds only for tokens of
 * that issuer) and `claims:` for any other claim.
 */
export const RULE_KEYS = [...ALL_KIND_CLAIMS, 'issuer', 'claims'] as const;

/** GitHub App permission names a `github` role may ask for. */
export const GITHUB_PERMISSIONS = [
  'actions',
  'administration',
  'checks',
  'codespaces',
  'contents',
  'dependabot_secrets',
  'deployments',
  'environments',
  'issues',
  'metadata',
  'packages',
  'pages',
  'pull_requests',
  'repository_custom_properties',
  'repository_hooks',
  'repository_projects',
  'secret_scanning_alerts',
  'secrets',
  'security_events',
  'single_file',
  'statuses',
  'vulnerability_alerts',
  'workflows',
  'members',
  'organization_administration',
  'organization_custom_roles',
  'organization_hooks',
  'organization_packages',
  'organization_plan',
  'organization_projects',
  'organization_secrets',
  'organization_self_hosted_runners',
  'organization_user_blocking',
  'team_discussions',
  'email_addresses',
  'followers',
  'git_ssh_keys',
  'gpg_keys',
  'interaction_limits',
  'profile',
  'starring',
] as const;
export const GITHUB_ACCESS = ['read', 'write', 'admin'] as const;
export const PROVIDERS = ['aws', 'gcp', 'github', 'kubernetes'] as const;

/** A policy directory (`--policy DIR`): `org.yaml` and one file per team. */
export const ORG_KEYS = [
  'version',
  'issuers',
  'defaults',
  'admins',
  'slack_users',
  'ceilings',
  'teams',
  'shared',
  'guardrails',
] as const;
export const CEILING_KEYS = ['max_duration', 'providers'] as const;
export const TEAM_LIMIT_KEYS = ['max_duration', 'providers', 'issuers', 'resources'] as const;
/** A resource scope (`teams.<name>.resources`, `shared[].resources`) and its provider blocks. */
export const RESOURCE_KEYS = ['aws', 'gcp', 'kubernetes', 'github'] as const;
export const AWS_RESOURCE_KEYS = ['accounts', 'role_arns', 'session_tags'] as const;
export const GCP_RESOURCE_KEYS = ['projects', 'service_accounts'] as const;
export const KUBERNETES_RESOURCE_KEYS = ['clusters', 'namespaces', 'service_accounts', 'audiences'] as const;
/** `write` only in a guardrail's selector (`resources.ts` refuses it in a scope). */
export const GITHUB_RESOURCE_KEYS = ['repositories', 'permissions', 'write'] as const;
export const SHARED_KEYS = ['teams', 'resources'] as const;
export const GUARDRAIL_KEYS = ['name', 'description', 'applies_to', 'deny'] as const;
export const SELECTOR_KEYS = ['roles', 'providers', 'teams', 'write', ...RESOURCE_KEYS] as const;
export const TEAM_KEYS = ['version', 'description', 'owners', 'roles'] as const;

/** The keysets by name; the schema's `$defs` use the same names (the root is `policy`). */
export const KEYSETS = {
  policy: POLICY_KEYS,
  issuer: ISSUER_KEYS,
  defaults: DEFAULTS_KEYS,
  role: ROLE_KEYS,
  aws: AWS_KEYS,
  gcp: GCP_KEYS,
  github: GITHUB_KEYS,
  github_permissions: GITHUB_PERMISSIONS,
  kubernetes: KUBERNETES_KEYS,
  approval: APPROVAL_KEYS,
  break_glass: BREAK_GLASS_KEYS,
  slack_user: SLACK_USER_KEYS,
  escalate: ESCALATE_KEYS,
  auto_approve_on_call: AUTO_APPROVE_KEYS,
  pagerduty: PAGERDUTY_KEYS,
  notify: NOTIFY_KEYS,
  rule: RULE_KEYS,
} as const;

export type KeysetName = keyof typeof KEYSETS;

/**
 * The keysets of `schema/org.schema.json` (root `org`, the rest under `$defs`). Issuers, defaults
 * and rules are the single-file policy's own, referenced from `policy.schema.json`.
 */
export const ORG_KEYSETS = {
  org: ORG_KEYS,
  ceilings: CEILING_KEYS,
  team_limits: TEAM_LIMIT_KEYS,
  guardrail: GUARDRAIL_KEYS,
  selector: SELECTOR_KEYS,
  shared: SHARED_KEYS,
  resources: RESOURCE_KEYS,
  aws_resources: AWS_RESOURCE_KEYS,
  gcp_resources: GCP_RESOURCE_KEYS,
  kubernetes_resources: KUBERNETES_RESOURCE_KEYS,
  github_resources: GITHUB_RESOURCE_KEYS,
} as const;

type OrgKeyset = keyof typeof ORG_KEYSETS;
const POLICY_DEFS = 'policy.schema.json#/$defs/';

/** How keysets nest: `from.key` holds another keyset (directly, as list items, or as map values). */
interface KeyLink<From> {
  from: From;
  key: string;
  as: 'object' | 'list' | 'map';
}

export const ORG_KEY_LINKS: readonly (KeyLink<OrgKeyset> & { ref: string })[] = [
  { from: 'org', key: 'issuers', ref: `${POLICY_DEFS}issuer`, as: 'list' },
  { from: 'org', key: 'defaults', ref: `${POLICY_DEFS}defaults`, as: 'object' },
  { from: 'org', key: 'admins', ref: `${POLICY_DEFS}admins`, as: 'object' },
  { from: 'org', key: 'slack_users', ref: `${POLICY_DEFS}slack_user`, as: 'map' },
  { from: 'org', key: 'ceilings', ref: '#/$defs/ceilings', as: 'object' },
  { from: 'org', key: 'teams', ref: '#/$defs/team_limits', as: 'map' },
  { from: 'org', key: 'guardrails', ref: '#/$defs/guardrail', as: 'list' },
  { from: 'guardrail', key: 'applies_to', ref: '#/$defs/selector', as: 'object' },
  { from: 'org', key: 'shared', ref: '#/$defs/shared', as: 'list' },
  { from: 'team_limits', key: 'resources', ref: '#/$defs/resources', as: 'object' },
  { from: 'shared', key: 'resources', ref: '#/$defs/resources', as: 'object' },
  { from: 'resources', key: 'aws', ref: '#/$defs/aws_resources', as: 'object' },
  { from: 'resources', key: 'gcp', ref: '#/$defs/gcp_resources', as: 'object' },
  { from: 'resources', key: 'kubernetes', ref: '#/$defs/kubernetes_resources', as: 'object' },
  { from: 'resources', key: 'github', ref: '#/$defs/github_resources', as: 'object' },
  { from: 'selector', key: 'aws', ref: '#/$defs/aws_resources', as: 'object' },
  { from: 'selector', key: 'gcp', ref: '#/$defs/gcp_resources', as: 'object' },
  { from: 'selector', key: 'kubernetes', ref: '#/$defs/kubernetes_resources', as: 'object' },
  { from: 'selector', key: 'github', ref: '#/$defs/github_resources', as: 'object' },
  { from: 'guardrail', key: 'deny', ref: `${POLICY_DEFS}rule`, as: 'list' },
];

/** `schema/team.schema.json`: its roles are `policy.schema.json`'s. */
export const TEAM_ROLE_REF = `${POLICY_DEFS}role`;

/** The single-file policy's nesting: `from.key` holds a `to`. */
export const KEY_LINKS: readonly (KeyLink<KeysetName> & { to: KeysetName })[] = [
  { from: 'policy', key: 'issuers', to: 'issuer', as: 'list' },
  { from: 'policy', key: 'defaults', to: 'defaults', as: 'object' },
  { from: 'policy', key: 'slack_users', to: 'slack_user', as: 'map' },
  { from: 'policy', key: 'roles', to: 'role', as: 'map' },
  { from: 'role', key: 'aws', to: 'aws', as: 'object' },
  { from: 'role', key: 'gcp', to: 'gcp', as: 'object' },
  { from: 'role', key: 'github', to: 'github', as: 'object' },
  { from: 'role', key: 'kubernetes', to: 'kubernetes', as: 'object' },
  { from: 'role', key: 'approval', to: 'approval', as: 'object' },
  { from: 'approval', key: 'break_glass', to: 'break_glass', as: 'object' },
  { from: 'approval', key: 'escalate', to: 'escalate', as: 'object' },
  { from: 'approval', key: 'auto_approve_on_call', to: 'auto_approve_on_call', as: 'object' },
  { from: 'auto_approve_on_call', key: 'pagerduty', to: 'pagerduty', as: 'object' },
  { from: 'role', key: 'allow', to: 'rule', as: 'list' },
  { from: 'role', key: 'deny', to: 'rule', as: 'list' },
  { from: 'github', key: 'permissions', to: 'github_permissions', as: 'object' },
];

/** Conditions that say who may use a rule: every allow rule needs one. */
export const PIN_CLAIMS: ReadonlySet<string> = new Set([
  'repository',
  'repository_id',
  'repository_owner',
  'repository_owner_id',
]);

/** The GitHub Actions OIDC claims a policy condition may name directly (reference.md §2, policy file). */
export const CONDITION_CLAIMS = [
  'sub',
  'repository',
  'repository_id',
  'repository_owner',
  'repository_owner_id',
  'repository_visibility',
  'ref',
  'ref_type',
  'ref_protected',
  'sha',
  'environment',
  'event_name',
  'workflow',
  'workflow_ref',
  'workflow_sha',
  'job_workflow_ref',
  'job_workflow_sha',
  'actor',
  'actor_id',
  'run_id',
  'run_number',
  'run_attempt',
  'runner_environment',
  'head_ref',
  'base_ref',
  'enterprise',
  'enterprise_id',
] as const;

export type ConditionClaim = (typeof CONDITION_CLAIMS)[number];

/** Names GitHub itself treats case-insensitively: compared with ASCII case folding. */
export const CASE_INSENSITIVE_CLAIMS: ReadonlySet<string> = new Set([
  'repository',
  'repository_owner',
  'environment',
  'actor',
  'enterprise',
]);

/** The claims recorded in every audit row and shown to a denied workflow author. */
export const IDENTIFYING_CLAIMS = [
  'repository',
  'repository_id',
  'ref',
  'sha',
  'environment',
  'event_name',
  'workflow_ref',
  'job_workflow_ref',
  'run_id',
  'run_attempt',
  'actor',
] as const;

/** A verified token's payload. Values are whatever the issuer put there: check types before use. */
export type Claims = Readonly<Record<string, unknown>>;

/** A claim as the token's own property only: `constructor` or `__proto__` are just missing. */
export function ownClaim(claims: Claims, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined;
}

/**
 * The claims an audit row keeps of another CI system's token (docs/ci-systems.md), numbers and
 * booleans as their JSON text. `iss` names the GitLab instance or CircleCI organization.
 */
export const JOB_CLAIMS = {
  gitlab: [
    'iss',
    'project_path',
    'project_id',
    'namespace_id',
    'ref',
    'ref_protected',
    'sha',
    'environment',
    'environment_protected',
    'pipeline_source',
    'pipeline_id',
    'job_id',
    'user_login',
    'user_id',
  ],
  buildkite: [
    'iss',
    'organization_slug',
    'organization_id',
    'pipeline_slug',
    'pipeline_id',
    'build_number',
    'build_id',
    'build_branch',
    'build_commit',
    'build_source',
    'step_key',
    'job_id',
  ],
  circleci: [
    'iss',
    'sub',
    'oidc.circleci.com/project-id',
    'oidc.circleci.com/vcs-origin',
    'oidc.circleci.com/vcs-ref',
    'oidc.circleci.com/ssh-rerun',
  ],
} as const;

/** Every claim name an audit row may keep, of any system. */
export const ALL_JOB_CLAIMS: readonly string[] = [
  ...new Set<string>([...IDENTIFYING_CLAIMS, ...Object.values(JOB_CLAIMS).flat()]),
];

/**
 * The CI system a token's (or an audit row's) claims come from, told by the claims themselves
 * (`project_path` → GitLab, `organization_slug` → Buildkite, `oidc.circleci.com/project-id` →
 * CircleCI, else GitHub). For naming and recording only: an audit row is read without the policy.
 * The policy decides by the issuer's configured `kind`, never by a token's shape.
 */
export function jobKind(claims: Claims): 'github' | keyof typeof JOB_CLAIMS {
  if (typeof ownClaim(claims, 'project_path') === 'string') return 'gitlab';
  if (typeof ownClaim(claims, 'organization_slug') === 'string') return 'buildkite';
  if (typeof ownClaim(claims, 'oidc.circleci.com/project-id') === 'string') return 'circleci';
  return 'github';
}

/** A claim as text: a string as it is, a number or boolean as JSON writes it. */
export function claimText(claims: Claims, name: string): string | undefined {
  const v = ownClaim(claims, name);
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** The claims recorded of a token: its own system's identifying claims. */
export function identifyingClaims(claims: Claims): Record<string, string> {
  const out: Record<string, string> = {};
  const kind = jobKind(claims);
  if (kind === 'github') {
    for (const name of IDENTIFYING_CLAIMS) {
      const v = ownClaim(claims, name);
      if (typeof v === 'string') out[name] = v;
    }
    return out;
  }
  for (const name of JOB_CLAIMS[kind]) {
    const v = claimText(claims, name);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

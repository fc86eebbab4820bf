/** The GitHub Actions OIDC claims a policy condition may name directly (SPEC section 2). */
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

export function identifyingClaims(claims: Claims): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of IDENTIFYING_CLAIMS) {
    const v = ownClaim(claims, name);
    if (typeof v === 'string') out[name] = v;
  }
  return out;
}

/**
 * AWS leases shorter than STS's 900 s floor (reference.md §5, refresh). STS is asked for 900 s and the
 * session policy gets a statement that denies every action once `aws:CurrentTime` is past the
 * lease's end, so the keys are useless after it even though STS would still accept them.
 *
 * The facts this leans on (AWS IAM User Guide):
 * - a session's permissions are the intersection of the role's identity policy and the session
 *   policy, so a session policy must also Allow: without the role's own `session_policy` we add
 *   `Allow * on *`, which grants nothing beyond the role (id_credentials_temp_control-access_assumerole);
 * - an explicit Deny in any policy overrides every Allow (reference_policies_evaluation-logic);
 * - `aws:CurrentTime` is a global key present in every request, compared with `DateGreaterThan`
 *   (reference_policies_examples_aws-dates).
 * GetCallerIdentity needs no permission and ignores this Deny: use another call to check a lease.
 * Pure: no I/O.
 */
export const LEASE_END_SID = 'JitkeyLeaseEnd';

type Statement = Record<string, unknown>;

/** The role's session policy (or none) plus the lease-end Deny, as the JSON STS receives. */
export function leaseEndPolicy(sessionPolicy: Record<string, unknown> | undefined, leaseEnd: Date): string {
  const own = sessionPolicy?.Statement;
  const statements: Statement[] =
    own === undefined
      ? [{ Effect: 'Allow', Action: '*', Resource: '*' }]
      : Array.isArray(own)
        ? (own as Statement[])
        : [own as Statement];
  const deny: Statement = {
    Sid: LEASE_END_SID,
    Effect: 'Deny',
    Action: '*',
    Resource: '*',
    Condition: { DateGreaterThan: { 'aws:CurrentTime': leaseEnd.toISOString().replace(/\.\d{3}Z$/, 'Z') } },
  };
  return JSON.stringify({
    ...(sessionPolicy ?? {}),
    Version: '2012-10-17',
    Statement: [...statements, deny],
  });
}

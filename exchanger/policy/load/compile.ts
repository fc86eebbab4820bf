/**
 * Validated document → the `Policy` the server evaluates: each condition's patterns compiled
 * once into a matcher, github repositories split into owner + names. Only for a document that
 * validated without issues; `load-policy.ts` runs the whole pipeline.
 */
import { isOptionalClaim, KINDS, kindOf } from '../../ci-kinds.js';
import { CASE_INSENSITIVE_CLAIMS } from '../../claims.js';
import { compilePatterns } from '../model/glob.js';
import type { Condition, GithubRoleConfig, IssuerConfig, Policy, Role, Rule } from '../model/types.js';
import type { ConditionDoc, PolicyDoc, RoleDoc, RuleDoc } from '../validate/doc.js';
import { guardrailRule } from '../validate/issuer-kinds.js';
import { boundIssuers } from '../validate/role-issuers.js';

export function compileCondition(c: ConditionDoc): Condition {
  // `fold` is set from the rule's issuer kinds (`validate/issuer-kinds.ts`); GitHub's names otherwise.
  const foldCase = !c.custom && (c.fold ?? CASE_INSENSITIVE_CLAIMS.has(c.claim));
  const matches = compilePatterns(
    c.patterns.map((p) => p.value),
    { foldCase },
  );
  return { claim: c.claim, matches, ...(c.form ? { form: c.form } : {}), position: c.position };
}

export function compileRule(rule: RuleDoc): Rule {
  const conditions = rule.conditions.map(compileCondition);
  // `issuer:` is a condition on the token's `iss`, matched byte for byte like the verifier's.
  if (rule.issuer) {
    const url = rule.issuer.value;
    conditions.unshift({ claim: 'iss', matches: (v) => v === url, position: rule.issuer.position });
  }
  return { kind: rule.kind, index: rule.index, conditions, position: rule.position };
}

/**
 * An org guardrail's deny rule. It fails closed: a condition on a claim that a trusted issuer's
 * kind never carries (CircleCI's tokens and `runner_environment`) holds for that issuer's tokens.
 * Otherwise a team would escape the guardrail by binding its role to such an issuer. So does a
 * claim the job chooses to leave out (Buildkite's `queue_key`), and a value that is not one the
 * patterns read. A claim the kind carries only for some jobs (GitHub's `environment`) fails when
 * missing, as in any rule; a guardrail meant for one issuer's tokens says so with `issuer:`.
 */
export function compileGuardrailRule(doc: RuleDoc, issuers: readonly IssuerConfig[]): Rule {
  const rule = compileRule(guardrailRule(doc));
  const custom = new Set(doc.conditions.filter((c) => c.custom).map((c) => c.claim));
  // A rule with `issuer:` reads that issuer's tokens only.
  const reads = doc.issuer ? issuers.filter((i) => i.url === doc.issuer!.value) : issuers;
  for (const c of rule.conditions) {
    if (c.claim === 'iss') continue;
    c.failClosed = true;
    const unread = new Set<string>();
    const optional = new Set<string>();
    for (const issuer of reads) {
      const kind = KINDS[kindOf(issuer)];
      if (isOptionalClaim(kind, c.claim)) optional.add(issuer.url);
      // A custom claim is no kind's own: which tokens carry it is the policy's to know.
      else if (!custom.has(c.claim) && !kind.claims.has(c.claim)) unread.add(issuer.url);
    }
    if (unread.size > 0) c.unreadFor = unread;
    if (optional.size > 0) c.missingHoldsFor = optional;
  }
  return rule;
}

export function compileRole(doc: RoleDoc): Role {
  if (!doc.provider)
    throw new Error(`internal: role '${doc.name}' has no provider; compile only a valid document`);
  const role: Role = {
    name: doc.name,
    provider: doc.provider,
    durationSeconds: doc.durationSeconds,
    maxDurationSeconds: doc.maxDurationSeconds,
    allow: doc.allow.map(compileRule),
    deny: doc.deny.map(compileRule),
    requireProtectedEnvironment: doc.requireProtectedEnvironment,
    position: doc.position,
  };
  if (doc.description !== undefined) role.description = doc.description;
  if (doc.aws) role.aws = doc.aws;
  if (doc.gcp) role.gcp = doc.gcp;
  if (doc.github) role.github = splitRepositories(doc.github.repositories, doc.github.permissions);
  if (doc.kubernetes) role.kubernetes = doc.kubernetes;
  if (doc.approval) role.approval = doc.approval;
  if (doc.forbidActions) role.forbidActions = doc.forbidActions;
  const issuers = boundIssuers(doc);
  if (issuers) role.issuers = issuers;
  return role;
}

function splitRepositories(full: string[], permissions: GithubRoleConfig['permissions']): GithubRoleConfig {
  const first = full[0] ?? '/';
  const owner = first.slice(0, first.indexOf('/'));
  return { owner, repositories: full.map((r) => r.slice(r.indexOf('/') + 1)), permissions };
}

/** Only for a document `validatePolicy` returned without issues. */
export function compilePolicy(doc: PolicyDoc): Policy {
  const roles = new Map<string, Role>();
  for (const r of doc.roles) roles.set(r.name, compileRole(r));
  return assemblePolicy(doc, roles, doc.file);
}

/** A compiled Policy from a document's org-wide settings (a file's, or a directory's org.yaml). */
export function assemblePolicy(
  head: Pick<PolicyDoc, 'issuers' | 'defaults' | 'admins' | 'slackUsers'>,
  roles: Map<string, Role>,
  source: string,
): Policy {
  return {
    version: 1,
    issuers: head.issuers,
    defaults: head.defaults,
    admins: head.admins,
    ...(head.slackUsers ? { slackUsers: head.slackUsers } : {}),
    roles,
    source,
  };
}

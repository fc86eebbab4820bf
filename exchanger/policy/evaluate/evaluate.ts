/**
 * The decision for one role and one token's claims (reference.md §2, policy file), pure and allocation-light:
 * granted iff the token's `iss` is one the role is bound to (when it is bound), no guardrail
 * holds, some allow rule holds and no deny rule holds; within a rule every condition must hold;
 * a claim that is missing (not the token's own property) or not a string fails, except in a
 * guardrail, which fails closed where it cannot check (`unreadFor`, `missingHoldsFor`,
 * `failClosed` on `Condition`).
 */
import { type Claims, ownClaim } from '../../claims.js';
import { quote } from '../../text/quote.js';
import type {
  Condition,
  ConditionOutcome,
  Decision,
  GuardrailOutcome,
  Role,
  Rule,
  RuleOutcome,
} from '../model/types.js';
import { issuerDenial } from './issuer-refusal.js';

export function evaluateCondition(c: Condition, claims: Claims): ConditionOutcome {
  let v = ownClaim(claims, c.claim);
  // A guardrail reads no value of a claim the token's issuer never carries (one it put there anyway
  // included): the condition holds.
  if (c.unreadFor?.has(String(ownClaim(claims, 'iss'))))
    return { claim: c.claim, held: true, reason: 'unread' };
  if (v === undefined) {
    const held = c.missingHoldsFor?.has(String(ownClaim(claims, 'iss'))) === true;
    return { claim: c.claim, held, reason: 'missing' };
  }
  // A number or boolean the issuer documents (Buildkite's build_number) is compared as its text;
  // a list it documents (CircleCI's context-ids) holds when any of its strings matches.
  if (c.form === 'scalar' && (typeof v === 'number' || typeof v === 'boolean')) v = String(v);
  if (c.form === 'list' && Array.isArray(v) && v.every((x) => typeof x === 'string')) {
    const held = v.some((x: string) => c.matches(x));
    return { claim: c.claim, held, reason: held ? 'held' : 'mismatch', actual: v.join(',') };
  }
  if (typeof v !== 'string') {
    // A null is a value the issuer documents (Buildkite's step_key of a step without a key), so a
    // guardrail reads it as not matching; any other value it cannot read holds there. On a claim
    // the job chooses to ask for, a null says no more than its absence: it holds, as missing does.
    const optional = v === null && c.missingHoldsFor?.has(String(ownClaim(claims, 'iss'))) === true;
    const held = c.failClosed === true && (v !== null || optional);
    return { claim: c.claim, held, reason: 'not_string', actualType: typeName(v) };
  }
  const held = c.matches(v);
  return { claim: c.claim, held, reason: held ? 'held' : 'mismatch', actual: v };
}

export function evaluateRule(rule: Rule, claims: Claims): RuleOutcome {
  const conditions: ConditionOutcome[] = [];
  let held = rule.conditions.length > 0;
  for (const c of rule.conditions) {
    const o = evaluateCondition(c, claims);
    conditions.push(o);
    if (!o.held) held = false;
  }
  return { kind: rule.kind, index: rule.index, held, conditions };
}

function evaluateRules(
  rules: readonly Rule[],
  claims: Claims,
): { outcomes: RuleOutcome[]; first?: RuleOutcome } {
  const outcomes: RuleOutcome[] = [];
  let first: RuleOutcome | undefined;
  for (const rule of rules) {
    const o = evaluateRule(rule, claims);
    outcomes.push(o);
    if (o.held && !first) first = o;
  }
  return first ? { outcomes, first } : { outcomes };
}

export function evaluate(role: Role, claims: Claims): Decision {
  const guardrails: GuardrailOutcome[] | undefined = role.guardrails ? [] : undefined;
  let blocked: { name: string; rule: RuleOutcome } | undefined;
  for (const g of role.guardrails ?? []) {
    const { outcomes, first } = evaluateRules(g.deny, claims);
    guardrails?.push({ name: g.name, source: g.source, held: first !== undefined, deny: outcomes });
    if (first && !blocked) blocked = { name: g.name, rule: first };
  }
  const { outcomes: allow, first: allowHeld } = evaluateRules(role.allow, claims);
  const { outcomes: deny, first: denyHeld } = evaluateRules(role.deny, claims);
  const iss = ownClaim(claims, 'iss');
  const issuerBound = !role.issuers || (typeof iss === 'string' && role.issuers.includes(iss));
  const granted = issuerBound && !blocked && allowHeld !== undefined && denyHeld === undefined;
  // One literal, its one spread last: on Node 20 a literal with anything after a spread
  // (`{ ...base, code }`) takes V8's slow path, which cost more than the rest of a decision
  // (bench section 2).
  const decision = (code: Decision['code'], reason: string, guardrail?: string): Decision => ({
    role: role.name,
    granted,
    allow,
    deny,
    code,
    reason,
    ...(guardrails ? (guardrail ? { guardrails, guardrail } : { guardrails }) : {}),
  });
  // Before anything else: no rule makes a role meant for one issuer's jobs another issuer's.
  if (!issuerBound)
    return decision('issuer', issuerDenial(role.name, typeof iss === 'string' ? iss : undefined));
  // A guardrail is named, never its patterns: only the token's own values are quoted.
  if (blocked) {
    const unchecked = blocked.rule.conditions.some((c) => c.held && c.reason !== 'held');
    const reason = `role '${role.name}' denied by org guardrail '${blocked.name}': ${describeConditions(blocked.rule, true)}${unchecked ? ' (a guardrail denies what it cannot check)' : ''}`;
    return decision('guardrail', reason, blocked.name);
  }
  if (denyHeld) {
    return decision(
      'deny_rule',
      `role '${role.name}' denied: ${ruleName(denyHeld)} held: ${describeConditions(denyHeld, true)}`,
    );
  }
  if (allowHeld) return decision('granted', `role '${role.name}' granted: ${ruleName(allowHeld)} held`);
  if (allow.length === 0)
    return decision('no_allow_rule', `role '${role.name}' denied: it has no allow rules`);
  const why = allow.map((r) => `${ruleName(r)}: ${describeConditions(r, false)}`).join(' — ');
  return decision('no_allow_rule', `role '${role.name}' denied: no allow rule held — ${why}`);
}

export function ruleName(r: { kind: string; index: number }): string {
  return `${r.kind}[${r.index}]`;
}

/** The held (or the failed) conditions of a rule, each with the token's own value. */
function describeConditions(r: RuleOutcome, held: boolean): string {
  const parts: string[] = [];
  for (const c of r.conditions) if (c.held === held) parts.push(describeOutcome(c));
  return parts.join('; ');
}

/** `ref was 'refs/heads/dev'`, `environment was missing`, `run_id was not a string (number)`. */
export function describeOutcome(c: ConditionOutcome): string {
  if (c.reason === 'missing') return `${c.claim} was missing`;
  if (c.reason === 'unread') return `${c.claim} is a claim this token's issuer never carries`;
  if (c.reason === 'not_string') return `${c.claim} was not a string (${c.actualType ?? 'unknown'})`;
  return `${c.claim} was ${quote(c.actual ?? '')}`;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

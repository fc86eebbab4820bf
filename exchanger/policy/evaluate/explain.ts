/**
 * `jitkey explain`: one decision spelled out per rule and per condition. Only the token's own
 * values are shown, never the policy's patterns (the policy file is at hand for that).
 */
import type { Claims } from '../../claims.js';
import { invalidRequest } from '../../errors.js';
import { quote } from '../../text/quote.js';
import { didYouMean } from '../model/suggest.js';
import type {
  ConditionOutcome,
  Decision,
  GuardrailOutcome,
  Policy,
  Role,
  RuleOutcome,
  SourcePosition,
} from '../model/types.js';
import { evaluate, ruleName } from './evaluate.js';

export function findRole(policy: Policy, roleName: string): Role {
  const role = policy.roles.get(roleName);
  if (!role) {
    const hint = didYouMean(roleName, policy.roles.keys());
    throw invalidRequest(`no role '${roleName}' in the policy${hint}`);
  }
  return role;
}

/** The structured decision, for `--json`. Throws `invalid_request` for an unknown role. */
export function explainDecision(policy: Policy, roleName: string, claims: Claims): Decision {
  return evaluate(findRole(policy, roleName), claims);
}

/** The human-readable explanation. Throws `invalid_request` for an unknown role. */
export function explain(policy: Policy, roleName: string, claims: Claims): string {
  const role = findRole(policy, roleName);
  return formatExplanation(role, evaluate(role, claims), policy.source);
}

/** Which file, and which guardrail or rule, decided: one line for the end of the explanation. */
function decidedBy(role: Role, decision: Decision, source?: string): string {
  if (decision.code === 'guardrail') {
    const g = role.guardrails?.find((x) => x.name === decision.guardrail);
    return `decided by: org guardrail '${decision.guardrail}'${where(g?.source, g?.position, ' in ')}`;
  }
  const file = source ? ` in ${source}` : '';
  if (decision.code === 'issuer')
    return `decided by: role '${role.name}'${file} (not bound to the token's issuer)`;
  if (decision.code === 'no_allow_rule') return `decided by: role '${role.name}'${file} (no allow rule held)`;
  const rules = decision.code === 'deny_rule' ? decision.deny : decision.allow;
  const rule = rules.find((r) => r.held);
  return `decided by: role '${role.name}'${rule ? ` ${ruleName(rule)}` : ''}${file}`;
}

export function formatExplanation(role: Role, decision: Decision, policySource?: string): string {
  const source = role.source ?? policySource;
  const lines = [`role '${role.name}' (${role.provider})${where(source, role.position, ' at ')}`];
  if (role.issuers) {
    const held = decision.code !== 'issuer';
    lines.push(
      `issuers: ${held ? "held (the token's iss is one the role is bound to)" : "failed (the token's iss is not one the role is bound to)"}`,
    );
  }
  for (const g of decision.guardrails ?? []) lines.push(...formatGuardrail(g, role));
  const k = role.kubernetes;
  if (k) {
    // What a grant hands out, so a reader sees the cluster and account without opening the file.
    const audiences = k.audiences.length ? `, audiences ${k.audiences.join(', ')}` : '';
    lines.push(`grants: service account ${k.namespace}/${k.serviceAccount} at ${k.server}${audiences}`);
  }
  if (decision.allow.length === 0) lines.push('allow: none (the role can never be granted)');
  for (const r of decision.allow) lines.push(...formatRule(r, role, source));
  if (decision.deny.length === 0) lines.push('deny: none');
  for (const r of decision.deny) lines.push(...formatRule(r, role, source));
  lines.push(`decision: ${decision.granted ? 'GRANTED' : 'DENIED'}`);
  lines.push(`reason: ${decision.reason}`);
  if (decision.guardrails || role.source || decision.code === 'issuer')
    lines.push(decidedBy(role, decision, source));
  return lines.join('\n');
}

/** A guardrail's deny rules; positions point into org.yaml, where the platform team keeps them. */
function formatGuardrail(g: GuardrailOutcome, role: Role): string[] {
  const guardrail = role.guardrails?.find((x) => x.name === g.name);
  const out = [
    `guardrail '${g.name}'${where(g.source, guardrail?.position, ' at ')}: ${g.held ? 'held (the role is denied)' : 'did not hold'}`,
  ];
  for (const r of g.deny) {
    const rule = guardrail?.deny[r.index];
    out.push(
      `  ${ruleName(r)}${where(g.source, rule?.position, ' at ')}: ${r.held ? 'held' : 'did not hold'}`,
    );
    out.push(...r.conditions.map((c) => `  ${formatCondition(c)}`));
  }
  return out;
}

function formatRule(r: RuleOutcome, role: Role, source?: string): string[] {
  const rule = (r.kind === 'allow' ? role.allow : role.deny)[r.index];
  let verdict: string;
  if (r.kind === 'allow') verdict = r.held ? 'held' : 'did not hold';
  else verdict = r.held ? 'held (the role is denied)' : 'did not hold';
  return [
    `${ruleName(r)}${where(source, rule?.position, ' at ')}: ${verdict}`,
    ...r.conditions.map(formatCondition),
  ];
}

export function formatCondition(c: ConditionOutcome): string {
  switch (c.reason) {
    case 'held':
      return `  ${c.claim}: held (token has ${quote(c.actual ?? '')})`;
    case 'mismatch':
      return `  ${c.claim}: failed (token has ${quote(c.actual ?? '')})`;
    case 'missing':
      return c.held
        ? `  ${c.claim}: held (missing: the job did not ask for it, and the guardrail cannot check it)`
        : `  ${c.claim}: failed (missing from the token)`;
    // The two below hold only in a guardrail, which denies what it cannot check.
    case 'unread':
      return `  ${c.claim}: held (this issuer's tokens never carry it: the guardrail cannot check it)`;
    case 'not_string':
      return `  ${c.claim}: ${c.held ? 'held' : 'failed'} (not a string: the token has ${c.actualType ?? 'another type'})`;
  }
}

function where(source: string | undefined, pos: SourcePosition | undefined, prefix: string): string {
  if (!pos) return source ? `${prefix}${source}` : '';
  return `${prefix}${source ?? ''}${source ? ':' : 'line '}${pos.line}:${pos.col}`;
}

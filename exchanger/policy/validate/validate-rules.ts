/** `allow` / `deny` lists: rules, conditions and their matchers (reference.md §2, policy file). */
import { isMap, isScalar, isSeq, type Node } from 'yaml';
import { ALL_KIND_CLAIMS } from '../../ci-kinds.js';
import type { SourcePosition } from '../model/types.js';
import type { ConditionDoc, PatternDoc, RuleDoc } from './doc.js';
import { PIN_CLAIMS, RULE_KEYS } from './keys.js';
import { describe, type Field, type Reader, sourceText } from './read.js';

const RULE_HINT =
  "; conditions are the issuer kind's claim names (docs/ci-systems.md), other claims go under 'claims:'";
const CONDITION_SET: ReadonlySet<string> = new Set(ALL_KIND_CLAIMS);
const ID_CLAIMS: ReadonlySet<string> = new Set(['repository_id', 'repository_owner_id']);

export function readRules(
  r: Reader,
  field: Field | undefined,
  kind: 'allow' | 'deny',
  rolePath: string,
): RuleDoc[] {
  if (!field) return [];
  const path = `${rolePath}.${kind}`;
  const list = field.value;
  if (!list || !isSeq(list)) {
    r.error(r.at(field), `${path} must be a list of rules, not ${describe(list)}`);
    return [];
  }
  const rules: RuleDoc[] = [];
  list.items.forEach((item, index) => {
    const rule = readRule(r, r.node(item), kind, index, `${path}[${index}]`, list);
    if (rule) rules.push(rule);
  });
  return rules;
}

function readRule(
  r: Reader,
  node: Node | null,
  kind: 'allow' | 'deny',
  index: number,
  path: string,
  list: Node,
): RuleDoc | undefined {
  const fields = r.fields(node, RULE_KEYS, path, list, RULE_HINT);
  if (!fields || !node) return undefined;
  const conditions: ConditionDoc[] = [];
  let issuer: PatternDoc | undefined;
  for (const field of fields.values()) {
    if (field.name === 'claims') conditions.push(...readCustom(r, field, `${path}.claims`));
    else if (field.name === 'issuer') {
      const url = r.url(field, `${path}.issuer`);
      if (url !== undefined) issuer = { value: url, position: r.pos(field.value) };
    } else {
      const patterns = readMatcher(r, field, `${path}.${field.name}`);
      if (patterns)
        conditions.push({ claim: field.name, custom: false, patterns, position: r.pos(field.key) });
    }
  }
  const rule: RuleDoc = { kind, index, conditions, position: r.pos(node), written: [...fields.keys()] };
  if (issuer) rule.issuer = issuer;
  if (isMap(node) && node.items.length === 0) {
    r.error(node, `${path} has no conditions: an empty rule would match every token`);
  } else if (conditions.length === 0 && issuer) {
    r.error(node, `${path} has only issuer: it would match every token of that issuer`);
  }
  // Pins depend on the issuers' kinds: checked once they are known (`issuer-kinds.ts`).
  return rule;
}

function readCustom(r: Reader, field: Field, path: string): ConditionDoc[] {
  const entries = r.entries(field.value, path, field.key);
  if (!entries) return [];
  if (entries.length === 0) r.error(r.at(field), `${path} is empty`);
  const out: ConditionDoc[] = [];
  for (const e of entries) {
    if (e.name === '') {
      r.error(e.key, `${path} has an empty claim name`);
      continue;
    }
    if (CONDITION_SET.has(e.name)) {
      r.error(e.key, `${path}.${e.name}: '${e.name}' is a condition key: write it directly in the rule`);
      continue;
    }
    const patterns = readMatcher(r, e, `${path}.${e.name}`);
    if (patterns) out.push({ claim: e.name, custom: true, patterns, position: r.pos(e.key) });
  }
  return out;
}

/** A string or a non-empty list of strings. Numbers and booleans are refused: claims are strings. */
function readMatcher(r: Reader, field: Field, path: string): PatternDoc[] | undefined {
  const n = field.value;
  if (!n) {
    r.error(field.key, `${path} has no value`);
    return undefined;
  }
  if (isSeq(n)) {
    if (n.items.length === 0) {
      r.error(n, `${path} is an empty list: it would match nothing`);
      return undefined;
    }
    const out: PatternDoc[] = [];
    let ok = true;
    n.items.forEach((item, i) => {
      const p = readPattern(r, r.node(item) ?? n, `${path}[${i}]`, 'a string');
      if (p) out.push(p);
      else ok = false;
    });
    return ok ? out : undefined;
  }
  const p = readPattern(r, n, path, 'a string or a list of strings');
  return p ? [p] : undefined;
}

function readPattern(r: Reader, n: Node, path: string, expected: string): PatternDoc | undefined {
  if (isScalar(n) && typeof n.value === 'string') {
    if (n.value.includes('***')) {
      r.error(
        n,
        `${path}: '${n.value}' has three stars in a row: write * (within a path segment) or ** (across '/')`,
      );
      return undefined;
    }
    return { value: n.value, position: r.pos(n) };
  }
  if (
    isScalar(n) &&
    (typeof n.value === 'number' || typeof n.value === 'boolean' || typeof n.value === 'bigint')
  ) {
    r.error(n, `${path}: write "${sourceText(n)}" in quotes: claims are strings`);
  } else {
    r.error(n, `${path} must be ${expected}, not ${describe(n)}`);
  }
  return undefined;
}

/** The part of a pattern that names the owner: for `repository`, what comes before the first `/`. */
export function ownerPart(claim: string, pattern: string): string {
  if (claim === 'repository_owner') return pattern;
  const slash = pattern.indexOf('/');
  return slash < 0 ? pattern : pattern.slice(0, slash);
}

/**
 * Every allow rule of a GitHub issuer must say who may use it, and a wildcard owner says nothing.
 * `path` names the rule (`roles.x.allow[0]`).
 */
export function checkGithubPinned(
  rule: RuleDoc,
  path: string,
  error: (at: SourcePosition, message: string) => void,
): void {
  const pins = rule.conditions.filter((c) => !c.custom && PIN_CLAIMS.has(c.claim));
  const missing = (rule.written ?? []).some((k) => PIN_CLAIMS.has(k)) && pins.length === 0;
  if (missing) return; // the pin itself was invalid and has been reported
  if (pins.length === 0) {
    error(
      rule.position,
      `${path} must pin who may use it: add repository_id or repository_owner_id (or repository / ` +
        'repository_owner); a rule on ref or job_workflow_ref alone would admit any repository on GitHub',
    );
    return;
  }
  const wild = (claim: string, p: PatternDoc) =>
    (ID_CLAIMS.has(claim) ? p.value : ownerPart(claim, p.value)).includes('*');
  if (pins.some((c) => c.patterns.every((p) => !wild(c.claim, p)))) return;
  const c = pins[0]!;
  const bad = c.patterns.find((p) => wild(c.claim, p))!;
  const why = ID_CLAIMS.has(c.claim)
    ? 'an id pin must be exact'
    : 'its owner is a wildcard; name the owner or add repository_id / repository_owner_id';
  error(bad.position, `${path}.${c.claim}: '${bad.value}' pins nothing: ${why}`);
}

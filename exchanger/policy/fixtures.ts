/**
 * `*.test.yaml` fixtures for `jitkey test`: cases of claims + role + the expected decision,
 * read strictly (unknown keys, wrong types and unknown roles are load errors at line:col).
 *
 *   claims: { repository: acme/web, … }     # shared by every case (optional)
 *   tests:
 *     - name: main deploys
 *       role: prod-web-deploy
 *       claims: { ref: refs/heads/main }      # merged over the shared claims
 *       expect: allow | deny
 *       reason: granted | issuer | guardrail | deny_rule | no_allow_rule   # optional
 *       guardrail: no-untrusted-events-on-write                   # optional, with reason: guardrail
 */
import { isSeq, type Node } from 'yaml';
import type { Claims } from '../claims.js';
import type { PolicyIssue } from './errors.js';
import { parsePolicyText } from './parse.js';
import { type Field, Reader } from './read.js';
import { didYouMean } from './suggest.js';
import type { DecisionCode, Policy, SourcePosition } from './types.js';

export const FIXTURE_KEYS = ['claims', 'tests'] as const;
export const CASE_KEYS = ['name', 'role', 'claims', 'expect', 'reason', 'guardrail'] as const;
export const DECISION_CODES: readonly DecisionCode[] = [
  'granted',
  'issuer',
  'guardrail',
  'deny_rule',
  'no_allow_rule',
];

export interface TestCase {
  file: string;
  name: string;
  position: SourcePosition;
  role: string;
  claims: Claims;
  expect: 'allow' | 'deny';
  reason?: DecisionCode;
  guardrail?: string;
}

export function readFixture(
  text: string,
  file: string,
  policy: Policy,
): { cases: TestCase[]; issues: PolicyIssue[] } {
  const { parsed, issues } = parsePolicyText(text, file);
  if (issues.length > 0) return { cases: [], issues };
  const r = new Reader(parsed);
  const root = r.node(parsed.doc.contents);
  const f = r.fields(root, FIXTURE_KEYS, 'the fixture file', undefined);
  if (!f || !root) {
    if (!root) r.error({ line: 1, col: 1 }, 'the fixture file is empty: it needs tests');
    return { cases: [], issues: r.issues };
  }
  const shared = f.get('claims');
  const base = shared ? readClaims(r, shared, 'claims') : {};
  const tests = r.require(f, 'tests', 'the fixture file', root);
  const list = tests?.value;
  if (tests && (!list || !isSeq(list) || list.items.length === 0)) {
    r.error(r.at(tests), 'tests must be a non-empty list of { name, role, expect }');
    return { cases: [], issues: r.issues };
  }
  const cases: TestCase[] = [];
  for (const [i, item] of (isSeq(list) ? list.items : []).entries()) {
    const c = readCase(r, r.node(item), `tests[${i}]`, list as Node, base, policy);
    if (c) cases.push(c);
  }
  return { cases, issues: r.issues };
}

function readCase(
  r: Reader,
  node: Node | null,
  path: string,
  list: Node,
  base: Claims,
  policy: Policy,
): TestCase | undefined {
  const f = r.fields(node, CASE_KEYS, path, list);
  if (!f || !node) return undefined;
  const nameField = r.require(f, 'name', path, node);
  const name = nameField && r.string(nameField, `${path}.name`);
  const roleField = r.require(f, 'role', path, node);
  const role = roleField && r.string(roleField, `${path}.role`);
  if (role !== undefined && !policy.roles.has(role)) {
    r.error(
      roleField?.value,
      `${path}.role: no role '${role}' in the policy${didYouMean(role, policy.roles.keys())}`,
    );
  }
  const own = f.get('claims');
  const claims = { ...base, ...(own ? readClaims(r, own, `${path}.claims`) : {}) };
  const expectField = r.require(f, 'expect', path, node);
  const expected = expectField && r.string(expectField, `${path}.expect`);
  if (expected !== undefined && expected !== 'allow' && expected !== 'deny') {
    r.error(expectField?.value, `${path}.expect must be allow or deny, not '${expected}'`);
  }
  const reasonField = f.get('reason');
  const reason = reasonField && r.string(reasonField, `${path}.reason`);
  const code = DECISION_CODES.find((d) => d === reason);
  if (reason !== undefined && !code) {
    r.error(
      reasonField?.value,
      `${path}.reason: '${reason}' is not a reason code (${DECISION_CODES.join(', ')})${didYouMean(reason, DECISION_CODES)}`,
    );
  } else if (code && (code === 'granted') !== (expected === 'allow')) {
    r.error(reasonField?.value, `${path}.reason: '${code}' contradicts expect: ${expected}`);
  }
  const guardrailField = f.get('guardrail');
  const guardrail = guardrailField && r.string(guardrailField, `${path}.guardrail`);
  if (guardrail !== undefined && code !== undefined && code !== 'guardrail') {
    r.error(guardrailField?.value, `${path}.guardrail is only checked with reason: guardrail`);
  }
  if (name === undefined || role === undefined || (expected !== 'allow' && expected !== 'deny'))
    return undefined;
  const out: TestCase = { file: r.file, name, position: r.pos(node), role, claims, expect: expected };
  if (code) out.reason = code;
  else if (guardrail !== undefined) out.reason = 'guardrail';
  if (guardrail !== undefined) out.guardrail = guardrail;
  return out;
}

function readClaims(r: Reader, field: Field, path: string): Claims {
  const n = field.value;
  const entries = r.entries(n, path, field.key);
  if (!entries || !n) return {};
  return r.toJS(n) as Claims;
}

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Claims } from '../../exchanger/claims.js';
import { evaluate } from '../../exchanger/policy/evaluate/evaluate.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';

const fixtures = new URL('../fixtures/policies/', import.meta.url);
const policy = loadPolicy(readFileSync(new URL('semantics.yaml', fixtures), 'utf8'), 'semantics.yaml');

interface Case {
  name: string;
  role: string;
  claims: Claims;
  granted: boolean;
  reason: string;
}
const { cases } = parse(readFileSync(new URL('semantics-cases.yaml', fixtures), 'utf8'), { merge: true }) as {
  cases: Case[];
};

function role(name: string) {
  const r = policy.roles.get(name);
  if (!r) throw new Error(`no role ${name} in the fixture`);
  return r;
}

describe('evaluate (reference.md §2 semantics)', () => {
  it('has its cases', () => expect(cases.length).toBeGreaterThan(40));

  it.each(cases)('$name', (c) => {
    const d = evaluate(role(c.role), c.claims);
    expect({ granted: d.granted, reason: d.reason }).toEqual({ granted: c.granted, reason: c.reason });
  });
});

describe('evaluate: own properties only', () => {
  it.each([
    {
      name: '__proto__ not in the token is missing',
      claims: JSON.parse('{"repository_id":"1"}') as Claims,
      granted: false,
      reason: "role 'proto' denied: no allow rule held — allow[0]: __proto__ was missing",
    },
    {
      name: '__proto__ as the token’s own property is a claim',
      claims: JSON.parse('{"repository_id":"1","__proto__":"x"}') as Claims,
      granted: true,
      reason: "role 'proto' granted: allow[0] held",
    },
    {
      name: 'a prototype-polluted claim is not the token’s own',
      claims: Object.create({ repository_id: '1', __proto__: 'x' }) as Claims,
      granted: false,
      reason:
        "role 'proto' denied: no allow rule held — allow[0]: repository_id was missing; __proto__ was missing",
    },
    {
      name: 'a null-prototype claims object with an own __proto__ claim',
      claims: Object.assign(Object.create(null), { repository_id: '1', ['__proto__']: 'y' }) as Claims,
      granted: true,
      reason: "role 'proto' granted: allow[0] held",
    },
  ])('$name', ({ claims, granted, reason }) => {
    const d = evaluate(role('proto'), claims);
    expect({ granted: d.granted, reason: d.reason }).toEqual({ granted, reason });
  });
});

describe('evaluate: the structured decision', () => {
  it('reports every rule and condition with the token’s own values only', () => {
    const d = evaluate(role('deny-wins'), {
      repository_owner_id: '7890',
      event_name: 'pull_request',
      run_id: 7,
    });
    expect(d).toEqual({
      role: 'deny-wins',
      granted: false,
      code: 'deny_rule',
      allow: [
        {
          kind: 'allow',
          index: 0,
          held: true,
          conditions: [{ claim: 'repository_owner_id', held: true, reason: 'held', actual: '7890' }],
        },
      ],
      deny: [
        {
          kind: 'deny',
          index: 0,
          held: true,
          conditions: [{ claim: 'event_name', held: true, reason: 'held', actual: 'pull_request' }],
        },
        {
          kind: 'deny',
          index: 1,
          held: false,
          conditions: [
            { claim: 'ref', held: false, reason: 'missing' },
            { claim: 'actor', held: false, reason: 'missing' },
          ],
        },
      ],
      reason: "role 'deny-wins' denied: deny[0] held: event_name was 'pull_request'",
    });
  });

  it('never puts the policy’s expected value in a denial', () => {
    const d = evaluate(role('exact'), { repository: 'other/repo' });
    for (const secret of ['acme/web', '123456', 'refs/heads/main', 'production', 'Octo-Cat', 'abcDEF0123']) {
      expect(d.reason).not.toContain(secret);
      expect(JSON.stringify(d)).not.toContain(secret);
    }
  });

  it('cuts a very long token value in the reason', () => {
    const d = evaluate(role('lists'), { repository_id: 'x'.repeat(500), event_name: 'push' });
    expect(d.reason).toBe(
      `role 'lists' denied: no allow rule held — allow[0]: repository_id was '${'x'.repeat(120)}…'`,
    );
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALL_KIND_CLAIMS } from '../../exchanger/ci-kinds.js';
import { CASE_KEYS, DECISION_CODES, FIXTURE_KEYS } from '../../exchanger/policy/fixtures/fixtures.js';
import {
  KEY_LINKS,
  KEYSETS,
  type KeysetName,
  ORG_KEY_LINKS,
  ORG_KEYSETS,
  PROVIDERS,
  TEAM_KEYS,
  TEAM_ROLE_REF,
} from '../../exchanger/policy/validate/keys.js';

interface SchemaNode {
  $ref?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  propertyNames?: { not?: { enum?: string[] } };
  $defs?: Record<string, SchemaNode>;
  [k: string]: unknown;
}
const read = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../schema/${name}`, import.meta.url), 'utf8')) as SchemaNode;
const schema = read('policy.schema.json');

/** Where a key's value points: itself (`object`), its items (`list`) or its values (`map`). */
function linkTarget(prop: SchemaNode | undefined, as: 'object' | 'list' | 'map'): string | undefined {
  if (as === 'object') return prop?.$ref;
  return as === 'list' ? prop?.items?.$ref : (prop?.additionalProperties as SchemaNode)?.$ref;
}
const def = (name: KeysetName): SchemaNode => (name === 'policy' ? schema : (schema.$defs?.[name] ?? {}));

describe('schema/policy.schema.json and the validator know the same keys', () => {
  it('is draft 2020-12', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
  });

  it.each(Object.keys(KEYSETS).map((name) => ({ name: name as KeysetName })))('$name', ({ name }) => {
    const d = def(name);
    expect(Object.keys(d.properties ?? {}).sort()).toEqual([...KEYSETS[name]].sort());
    expect(d.additionalProperties).toBe(false);
  });

  it.each(KEY_LINKS.map((l) => ({ ...l, name: `${l.from}.${l.key} → ${l.to}` })))(
    '$name',
    ({ from, key, to, as }) => {
      expect(linkTarget(def(from).properties?.[key], as)).toBe(`#/$defs/${to}`);
    },
  );

  it('has no object with fixed keys that the validator does not know', () => {
    const known = new Set(Object.keys(KEYSETS).map((n) => def(n as KeysetName)));
    const stray: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (!node || typeof node !== 'object') return;
      if (!Array.isArray(node) && 'properties' in node && path.endsWith('/properties') === false) {
        const n = node as SchemaNode;
        // `if` clauses of the provider one-of only restate `provider`.
        if (!known.has(n) && !path.includes('/if')) stray.push(path || '/');
      }
      for (const [k, v] of Object.entries(node)) walk(v, `${path}/${k}`);
    };
    walk(schema, '');
    expect(stray.filter((p) => !p.includes('/then'))).toEqual([]);
  });

  it('forbids condition keys under claims:', () => {
    expect(def('rule').properties?.claims?.propertyNames?.not?.enum).toEqual([...ALL_KIND_CLAIMS]);
  });

  it('ties each provider to its block', () => {
    const role = def('role') as { allOf?: { then?: { required?: string[] } }[] };
    expect(role.allOf?.map((c) => c.then?.required)).toEqual(PROVIDERS.map((p) => [p]));
  });
});

// A policy directory: org.yaml and team files (docs/org-policy.md).
const org = read('org.schema.json');
const team = read('team.schema.json');
const orgDef = (name: keyof typeof ORG_KEYSETS) => (name === 'org' ? org : (org.$defs?.[name] ?? {}));

describe('schema/org.schema.json and the validator know the same keys', () => {
  it.each(Object.keys(ORG_KEYSETS).map((name) => ({ name: name as keyof typeof ORG_KEYSETS })))(
    '$name',
    ({ name }) => {
      const d = orgDef(name);
      expect(Object.keys(d.properties ?? {}).sort()).toEqual([...ORG_KEYSETS[name]].sort());
      expect(d.additionalProperties).toBe(false);
    },
  );

  it.each(ORG_KEY_LINKS.map((l) => ({ ...l, name: `${l.from}.${l.key} → ${l.ref}` })))(
    '$name',
    ({ from, key, ref, as }) => {
      expect(linkTarget(orgDef(from).properties?.[key], as)).toBe(ref);
    },
  );
});

describe('schema/team.schema.json', () => {
  it('has the team file keys, and roles from policy.schema.json', () => {
    expect(Object.keys(team.properties ?? {}).sort()).toEqual([...TEAM_KEYS].sort());
    expect(team.additionalProperties).toBe(false);
    expect(linkTarget(team.properties?.roles, 'map')).toBe(TEAM_ROLE_REF);
  });
});

describe('references from the org and team schemas resolve', () => {
  it.each([org, team].flatMap((s) => refs(s)).map((ref) => ({ ref })))('$ref', ({ ref }) => {
    const [file, pointer = ''] = ref.split('#');
    const target = pointer
      .split('/')
      .slice(1)
      .reduce<unknown>((n, k) => (n as Record<string, unknown> | undefined)?.[k], file ? schema : org);
    expect(target).toBeTypeOf('object');
  });
});

describe('schema/policy-test.schema.json (jitkey test fixtures)', () => {
  const fixture = read('policy-test.schema.json');
  it('has the fixture keys, the case keys and the decision codes', () => {
    expect(Object.keys(fixture.properties ?? {}).sort()).toEqual([...FIXTURE_KEYS].sort());
    const c = fixture.$defs?.case;
    expect(Object.keys(c?.properties ?? {}).sort()).toEqual([...CASE_KEYS].sort());
    expect(c?.additionalProperties).toBe(false);
    expect(c?.properties?.reason?.enum).toEqual([...DECISION_CODES]);
  });
});

function refs(node: unknown): string[] {
  if (!node || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([k, v]) => (k === '$ref' && typeof v === 'string' ? [v] : refs(v)));
}

/** schema/org.schema.json and schema/team.schema.json against the validator's key sets. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ORG_KEY_LINKS, ORG_KEYSETS, TEAM_KEYS, TEAM_ROLE_REF } from '../../exchanger/policy/keys.js';

interface SchemaNode {
  $ref?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  $defs?: Record<string, SchemaNode>;
  [k: string]: unknown;
}
const read = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../schema/${name}`, import.meta.url), 'utf8')) as SchemaNode;
const org = read('org.schema.json');
const team = read('team.schema.json');
const policy = read('policy.schema.json');
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
      const prop = orgDef(from).properties?.[key];
      const target =
        as === 'object'
          ? prop?.$ref
          : as === 'list'
            ? prop?.items?.$ref
            : (prop?.additionalProperties as SchemaNode)?.$ref;
      expect(target).toBe(ref);
    },
  );
});

describe('schema/team.schema.json', () => {
  it('has the team file keys, and roles from policy.schema.json', () => {
    expect(Object.keys(team.properties ?? {}).sort()).toEqual([...TEAM_KEYS].sort());
    expect(team.additionalProperties).toBe(false);
    expect((team.properties?.roles?.additionalProperties as SchemaNode).$ref).toBe(TEAM_ROLE_REF);
  });
});

describe('references into policy.schema.json resolve', () => {
  it.each([org, team].flatMap((s) => refs(s)).map((ref) => ({ ref })))('$ref', ({ ref }) => {
    const local = ref.startsWith('#') ? undefined : ref.replace(/^policy\.schema\.json#\/\$defs\//, '');
    if (local === undefined) expect(org.$defs?.[ref.replace('#/$defs/', '')]).toBeDefined();
    else expect(policy.$defs?.[local]).toBeDefined();
  });
});

function refs(node: unknown): string[] {
  if (!node || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([k, v]) => (k === '$ref' && typeof v === 'string' ? [v] : refs(v)));
}

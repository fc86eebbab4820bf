import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONDITION_CLAIMS } from '../../exchanger/claims.js';
import { KEY_LINKS, KEYSETS, type KeysetName, PROVIDERS } from '../../exchanger/policy/keys.js';

interface SchemaNode {
  $ref?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  propertyNames?: { not?: { enum?: string[] } };
  $defs?: Record<string, SchemaNode>;
  [k: string]: unknown;
}
const schema = JSON.parse(
  readFileSync(new URL('../../schema/policy.schema.json', import.meta.url), 'utf8'),
) as SchemaNode;
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
      const prop = def(from).properties?.[key];
      const target =
        as === 'object'
          ? prop?.$ref
          : as === 'list'
            ? prop?.items?.$ref
            : (prop?.additionalProperties as SchemaNode)?.$ref;
      expect(target).toBe(`#/$defs/${to}`);
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
    expect(def('rule').properties?.claims?.propertyNames?.not?.enum).toEqual([...CONDITION_CLAIMS]);
  });

  it('ties each provider to its block', () => {
    const role = def('role') as { allOf?: { then?: { required?: string[] } }[] };
    expect(role.allOf?.map((c) => c.then?.required)).toEqual(PROVIDERS.map((p) => [p]));
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import { PolicyError } from '../../exchanger/policy/model/errors.js';

interface Case {
  name: string;
  policy: string;
  errors: string[];
}
const cases = parse(
  readFileSync(new URL('../fixtures/policies/load-errors.yaml', import.meta.url), 'utf8'),
) as Case[];

function loadErrors(text: string): string[] {
  try {
    loadPolicy(text, 'policy.yaml');
  } catch (e) {
    if (e instanceof PolicyError) return e.toString().split('\n');
    throw e;
  }
  return [];
}

describe('load errors', () => {
  it.each(cases)('$name', ({ policy, errors }) => {
    expect(loadErrors(policy)).toEqual(errors ?? []);
  });
});

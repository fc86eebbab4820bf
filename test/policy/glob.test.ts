import { describe, expect, it } from 'vitest';
import { compilePatterns, Glob, globMatch } from '../../exchanger/policy/model/glob.js';

interface Case {
  name: string;
  pattern: string;
  value: string;
  want: boolean;
  foldCase?: boolean;
}

const cases: Case[] = [
  { name: 'exact match', pattern: 'refs/heads/main', value: 'refs/heads/main', want: true },
  { name: 'exact needs the whole value', pattern: 'refs/heads/main', value: 'refs/heads/main2', want: false },
  { name: 'exact is not a prefix match', pattern: 'refs/heads/mai', value: 'refs/heads/main', want: false },
  {
    name: 'exact is case-sensitive by default',
    pattern: 'refs/heads/Main',
    value: 'refs/heads/main',
    want: false,
  },
  { name: 'no trimming', pattern: 'main', value: ' main', want: false },
  { name: 'no trailing trimming', pattern: 'main', value: 'main\n', want: false },
  { name: 'no percent-decoding', pattern: 'acme/web', value: 'acme%2Fweb', want: false },
  { name: 'no percent-decoding (pattern side)', pattern: 'acme%2Fweb', value: 'acme/web', want: false },
  { name: '* matches within a segment', pattern: 'refs/tags/v*', value: 'refs/tags/v1.2.3', want: true },
  { name: '* matches the empty run', pattern: 'refs/tags/v*', value: 'refs/tags/v', want: true },
  { name: '* does not cross /', pattern: 'refs/heads/*', value: 'refs/heads/feature/x', want: false },
  { name: '** crosses /', pattern: 'refs/heads/**', value: 'refs/heads/feature/x', want: true },
  { name: '** matches the empty run', pattern: 'refs/heads/**', value: 'refs/heads/', want: true },
  { name: '** alone matches anything', pattern: '**', value: 'a/b/c', want: true },
  { name: '* alone does not match a slash', pattern: '*', value: 'a/b', want: false },
  { name: '* alone matches one segment', pattern: '*', value: 'abc', want: true },
  { name: 'star in the middle', pattern: 'acme/*-service', value: 'acme/pay-service', want: true },
  {
    name: 'star in the middle, wrong suffix',
    pattern: 'acme/*-service',
    value: 'acme/pay-server',
    want: false,
  },
  {
    name: 'star in the middle cannot span /',
    pattern: 'acme/*-service',
    value: 'acme/a/b-service',
    want: false,
  },
  {
    name: 'job workflow ref with ** before @',
    pattern: 'acme/workflows/**@refs/heads/main',
    value: 'acme/workflows/.github/workflows/bump.yml@refs/heads/main',
    want: true,
  },
  {
    name: '** then * (later single star is bounded)',
    pattern: '**a*b',
    value: 'a/ab',
    want: true,
  },
  { name: '** then * needs the single star segment free of /', pattern: '**a*b', value: 'xa/b', want: false },
  { name: 'several single stars', pattern: '*/*/*', value: 'a/b/c', want: true },
  { name: 'several single stars, too many segments', pattern: '*/*/*', value: 'a/b/c/d', want: false },
  { name: 'question mark is literal', pattern: 'a?c', value: 'abc', want: false },
  { name: 'question mark literal matches itself', pattern: 'a?c', value: 'a?c', want: true },
  { name: 'brackets are literal', pattern: '[ab]*', value: 'a1', want: false },
  { name: 'brackets literal match', pattern: '[ab]*', value: '[ab]1', want: true },
  { name: 'regex dot is literal', pattern: 'v1.*', value: 'v1x2', want: false },
  { name: 'backslash is literal', pattern: 'a\\*', value: 'a\\b', want: true },
  {
    name: 'folding: ASCII upper matches lower',
    pattern: 'acme/web',
    value: 'ACME/Web',
    want: true,
    foldCase: true,
  },
  { name: 'folding: in a glob', pattern: 'acme/*', value: 'ACME/Web', want: true, foldCase: true },
  { name: 'folding: pattern upper', pattern: 'ACME/*', value: 'acme/web', want: true, foldCase: true },
  { name: 'folding is ASCII only (É vs é)', pattern: 'prod-é', value: 'prod-É', want: false, foldCase: true },
  { name: 'folding is ASCII only, glob', pattern: 'é*', value: 'Éx', want: false, foldCase: true },
  { name: 'folding: Kelvin sign is not k', pattern: 'k', value: '\u212a', want: false, foldCase: true },
  { name: 'folding: dotless i is not i', pattern: 'i', value: '\u0131', want: false, foldCase: true },
  { name: 'no folding: case differs', pattern: 'acme/*', value: 'ACME/web', want: false },
  { name: 'empty pattern matches only empty', pattern: '', value: '', want: true },
  { name: 'empty pattern does not match text', pattern: '', value: 'x', want: false },
  { name: 'prefix and suffix may not overlap', pattern: 'ab*ba', value: 'aba', want: false },
  { name: 'prefix and suffix adjacent', pattern: 'ab*ba', value: 'abba', want: true },
];

describe('glob', () => {
  it.each(cases)('$name', ({ pattern, value, want, foldCase }) => {
    expect(globMatch(pattern, value, { foldCase: foldCase === true })).toBe(want);
  });

  it.each([
    {
      name: 'any element of a list',
      patterns: ['push', 'workflow_dispatch'],
      value: 'workflow_dispatch',
      want: true,
    },
    {
      name: 'no element of a list',
      patterns: ['push', 'workflow_dispatch'],
      value: 'pull_request',
      want: false,
    },
    {
      name: 'globs in a list',
      patterns: ['refs/heads/main', 'refs/tags/*'],
      value: 'refs/tags/v1',
      want: true,
    },
  ])('$name', ({ patterns, value, want }) => {
    expect(compilePatterns(patterns)(value)).toBe(want);
  });

  it('reuses a compiled glob across values', () => {
    const g = new Glob('a*b/**/c');
    expect([g.match('axb/y/z/c'), g.match('ab//c'), g.match('a/b/c'), g.match('axb/c')]).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });
});

describe('glob: linear time on adversarial input', () => {
  const n = 5000;
  // `steps` counts state visits; a backtracking matcher would need ~n^5 steps for these.
  it.each([
    {
      name: '*a*a*a*a*a*b on a^n (rejected by the suffix)',
      pattern: '*a*a*a*a*a*b',
      value: 'a'.repeat(n),
      want: false,
    },
    { name: '*a*a*a*a*a*b* on a^n', pattern: '*a*a*a*a*a*b*', value: 'a'.repeat(n), want: false },
    {
      name: '*a*a*a*a*a*b* on a^n then b late',
      pattern: '*a*a*a*a*a*b*',
      value: `${'a'.repeat(n)}b`,
      want: true,
    },
    { name: '**a**a**a**a**c** on a^n', pattern: '**a**a**a**a**c**', value: 'a'.repeat(n), want: false },
    { name: 'mixed stars over slashes', pattern: '**a*a*a*a/*x*', value: 'a/'.repeat(n), want: false },
    { name: 'long match that succeeds', pattern: '*a*a*a*a*a*', value: 'a'.repeat(n), want: true },
  ])('$name', ({ pattern, value, want }) => {
    const g = new Glob(pattern);
    expect(g.match(value)).toBe(want);
    expect(g.steps).toBeLessThanOrEqual(value.length * pattern.length);
  });

  it('grows linearly with the input (counted, not timed)', () => {
    const pattern = '*a*a*a*a*a*a*a*a*a*a*b*';
    const g = new Glob(pattern);
    g.match('a'.repeat(1000));
    const thousand = g.steps;
    g.match('a'.repeat(4000));
    const fourThousand = g.steps;
    expect(thousand).toBeGreaterThan(1000);
    expect(fourThousand).toBeLessThanOrEqual(4000 * pattern.length);
    expect(fourThousand / thousand).toBeLessThan(4.1);
  });
});

describe('glob: agrees with a reference definition', () => {
  /** reference.md §2's definition, directly: memoised recursion (fine for short strings). */
  function reference(p: string, v: string): boolean {
    const memo = new Map<string, boolean>();
    const go = (i: number, j: number): boolean => {
      const key = `${i},${j}`;
      const hit = memo.get(key);
      if (hit !== undefined) return hit;
      let r: boolean;
      if (i === p.length) r = j === v.length;
      else if (p.startsWith('**', i)) r = go(i + 2, j) || (j < v.length && go(i, j + 1));
      else if (p[i] === '*') r = go(i + 1, j) || (j < v.length && v[j] !== '/' && go(i, j + 1));
      else r = j < v.length && p[i] === v[j] && go(i + 1, j + 1);
      memo.set(key, r);
      return r;
    };
    return go(0, 0);
  }

  it('on 20,000 random pattern/value pairs', () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const word = (alphabet: string, max: number) =>
      Array.from({ length: rand(max + 1) }, () => alphabet[rand(alphabet.length)]).join('');
    let disagreements = 0;
    for (let k = 0; k < 20000; k++) {
      const p = word('ab/*', 7).replace(/\*{3,}/g, '**');
      const v = word('ab/', 9);
      if (globMatch(p, v) !== reference(p, v)) disagreements++;
    }
    expect(disagreements).toBe(0);
  });
});

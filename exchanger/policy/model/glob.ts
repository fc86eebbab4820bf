/**
 * Policy globs (reference.md §2, policy file): `*` matches any run of characters except `/`, `**` any run
 * including `/`, the whole value must match, and no other character is special.
 *
 * Matching never backtracks and never builds a RegExp from policy text. A pattern compiles to a
 * literal prefix, a literal suffix and, between them, a small NFA (one state per pattern unit)
 * that is run as a state set: O(value length × pattern length) in the worst case, and the
 * common shapes (`refs/tags/v*`, `acme/*`, `**`) short-cut to a prefix/suffix check.
 *
 * Case folding, where asked, is ASCII only (A–Z ↔ a–z): `É` and `é` stay different.
 */

const SLASH = 47;
/** Pattern units below 0 are wildcards; others are (folded) UTF-16 code units. */
const STAR = -1;
const DOUBLE_STAR = -2;

export interface GlobOptions {
  /** ASCII case folding, for the claims GitHub compares case-insensitively. */
  foldCase?: boolean;
}

export function isGlob(pattern: string): boolean {
  return pattern.includes('*');
}

function fold(code: number): number {
  return code >= 65 && code <= 90 ? code + 32 : code;
}

/** `A`–`Z` lowered, nothing else: a key for names GitHub compares case-insensitively (`É` stays `É`). */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
}

/** Equality, with ASCII-only case folding when asked. */
export function equalsAscii(a: string, b: string, foldCase: boolean): boolean {
  if (a.length !== b.length) return false;
  if (!foldCase) return a === b;
  for (let i = 0; i < a.length; i++) {
    if (fold(a.charCodeAt(i)) !== fold(b.charCodeAt(i))) return false;
  }
  return true;
}

/** `value` holds `literal` at `offset` (the caller checked the length). */
function regionEquals(value: string, offset: number, literal: string, foldCase: boolean): boolean {
  for (let i = 0; i < literal.length; i++) {
    const a = value.charCodeAt(offset + i);
    const b = literal.charCodeAt(i);
    if (a !== b && !(foldCase && fold(a) === fold(b))) return false;
  }
  return true;
}

function unitsOf(pattern: string, foldCase: boolean): number[] {
  const units: number[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charCodeAt(i);
    if (c === 42) {
      // A run of two or more stars is `**`; `***` reads as `**` then `*`, which is the same thing.
      if (pattern.charCodeAt(i + 1) === 42) {
        units.push(DOUBLE_STAR);
        i++;
      } else units.push(STAR);
    } else units.push(foldCase ? fold(c) : c);
  }
  return units;
}

export class Glob {
  readonly pattern: string;
  readonly foldCase: boolean;
  /** Work done by the last `match` (state visits), so tests can prove the bound without clocks. */
  steps = 0;
  private readonly prefix: string;
  private readonly suffix: string;
  /** The units from the first wildcard to the last, inclusive. */
  private readonly middle: Int32Array;
  private current: Uint8Array;
  private next: Uint8Array;

  constructor(pattern: string, options: GlobOptions = {}) {
    this.pattern = pattern;
    this.foldCase = options.foldCase === true;
    const first = pattern.indexOf('*');
    const last = pattern.lastIndexOf('*');
    if (first < 0) throw new RangeError(`not a glob: '${pattern}'`);
    this.prefix = pattern.slice(0, first);
    this.suffix = pattern.slice(last + 1);
    this.middle = Int32Array.from(unitsOf(pattern.slice(first, last + 1), this.foldCase));
    this.current = new Uint8Array(this.middle.length + 1);
    this.next = new Uint8Array(this.middle.length + 1);
  }

  match(value: string): boolean {
    this.steps = 0;
    const start = this.prefix.length;
    const end = value.length - this.suffix.length;
    if (end < start) return false;
    if (!regionEquals(value, 0, this.prefix, this.foldCase)) return false;
    if (!regionEquals(value, end, this.suffix, this.foldCase)) return false;
    const m = this.middle;
    if (m.length === 1) {
      if (m[0] === DOUBLE_STAR) return true;
      this.steps = end - start;
      const slash = value.indexOf('/', start);
      return slash < 0 || slash >= end;
    }
    return this.run(value, start, end);
  }

  /** The state-set simulation over value[start, end). */
  private run(value: string, start: number, end: number): boolean {
    const m = this.middle;
    const k = m.length;
    let cur = this.current;
    let nxt = this.next;
    cur.fill(0);
    nxt.fill(0);
    cur[0] = 1;
    let lo = 0;
    let hi = closure(cur, m, 0, 0);
    for (let at = start; at < end; at++) {
      const raw = value.charCodeAt(at);
      const c = this.foldCase ? fold(raw) : raw;
      let nlo = k + 1;
      let nhi = -1;
      for (let i = lo; i <= hi && i < k; i++) {
        this.steps++;
        if (cur[i] === 0) continue;
        const u = m[i]!;
        let to = -1;
        if (u === DOUBLE_STAR || (u === STAR && c !== SLASH)) to = i;
        else if (u === c) to = i + 1;
        if (to < 0) continue;
        nxt[to] = 1;
        if (to < nlo) nlo = to;
        if (to > nhi) nhi = to;
      }
      if (nhi < 0) return false;
      nhi = closure(nxt, m, nlo, nhi);
      const swap = cur;
      cur = nxt;
      nxt = swap;
      nxt.fill(0);
      lo = nlo;
      hi = nhi;
    }
    this.current = cur;
    this.next = nxt;
    return cur[k] === 1;
  }
}

/** Wildcards match the empty run: a live state on a wildcard also makes the one after it live. */
function closure(set: Uint8Array, m: Int32Array, lo: number, hi: number): number {
  let top = hi;
  for (let i = lo; i <= top && i < m.length; i++) {
    if (set[i] === 1 && m[i]! < 0) {
      set[i + 1] = 1;
      if (i + 1 > top) top = i + 1;
    }
  }
  return top;
}

/** One pattern as a predicate: exact (optionally ASCII-folded) or a glob. */
export function compilePattern(pattern: string, options: GlobOptions = {}): (value: string) => boolean {
  const foldCase = options.foldCase === true;
  if (!isGlob(pattern)) {
    return foldCase ? (value) => equalsAscii(value, pattern, true) : (value) => value === pattern;
  }
  const glob = new Glob(pattern, options);
  return (value) => glob.match(value);
}

/** A list matches when any element does. */
export function compilePatterns(
  patterns: readonly string[],
  options: GlobOptions = {},
): (value: string) => boolean {
  const [only] = patterns;
  if (patterns.length === 1 && only !== undefined) return compilePattern(only, options);
  const each = patterns.map((p) => compilePattern(p, options));
  return (value) => {
    for (const test of each) if (test(value)) return true;
    return false;
  };
}

/** Convenience for one-off checks (lint, tests): compiles and matches once. */
export function globMatch(pattern: string, value: string, options: GlobOptions = {}): boolean {
  return compilePattern(pattern, options)(value);
}

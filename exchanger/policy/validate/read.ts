/**
 * A thin reader over the YAML document for the validator: typed access to nodes that records
 * every problem (with its position) instead of stopping at the first one.
 */
import { isAlias, isMap, isScalar, isSeq, type Node, type YAMLMap } from 'yaml';
import { parseDuration } from '../../duration.js';
import { urlRefusal } from '../../net/url-rule.js';
import type { PolicyIssue } from '../model/errors.js';
import { didYouMean } from '../model/suggest.js';
import type { SourcePosition } from '../model/types.js';
import type { ParsedPolicy } from './parse.js';

/** One `key: value` of a map; `value` is null when the key has no value. */
export interface Field {
  name: string;
  key: Node;
  value: Node | null;
}

export class Reader {
  readonly issues: PolicyIssue[] = [];
  readonly file: string;

  constructor(private readonly parsed: ParsedPolicy) {
    this.file = parsed.file;
  }

  pos(node: Node | null | undefined): SourcePosition {
    const offset = node?.range?.[0] ?? 0;
    return this.parsed.lineCounter.linePos(offset);
  }

  error(at: Node | SourcePosition | null | undefined, message: string): void {
    const p = isPosition(at) ? at : this.pos(at);
    this.issues.push({ file: this.file, line: p.line, col: p.col, message });
  }

  /** Aliases resolved; a key without a value is null. */
  node(value: unknown): Node | null {
    let n = value as Node | null | undefined;
    if (n && isAlias(n)) n = (n.resolve(this.parsed.doc) as Node | undefined) ?? null;
    if (!n || (isScalar(n) && n.value === null)) return null;
    return n;
  }

  /** A node as plain JS (for free-form content such as an IAM session policy). */
  toJS(node: Node): unknown {
    return node.toJS(this.parsed.doc);
  }

  /** Where to point for a field: its value, or its key when the value is missing. */
  at(field: Field): Node {
    return field.value ?? field.key;
  }

  /** A map's entries with string keys, in file order. */
  entries(value: unknown, path: string, at?: Node): Field[] | undefined {
    const n = this.node(value);
    if (!n || !isMap(n)) {
      this.error(n ?? at, `${path} must be a map, not ${describe(n)}`);
      return undefined;
    }
    const out: Field[] = [];
    for (const pair of (n as YAMLMap<unknown, unknown>).items) {
      const key = this.node(pair.key);
      if (!key || !isScalar(key) || typeof key.value !== 'string') {
        this.error(key ?? n, `${path} has a key that is not a plain string`);
        continue;
      }
      out.push({ name: key.value, key, value: this.node(pair.value) });
    }
    return out;
  }

  /** A map with a fixed set of keys: an unknown key is an error naming the nearest known one. */
  fields(
    value: unknown,
    known: readonly string[],
    path: string,
    at?: Node,
    hint = '',
  ): Map<string, Field> | undefined {
    const list = this.entries(value, path, at);
    if (!list) return undefined;
    const out = new Map<string, Field>();
    for (const f of list) {
      if (known.includes(f.name)) out.set(f.name, f);
      else {
        const help = didYouMean(f.name, known) || hint || `; expected one of: ${known.join(', ')}`;
        this.error(f.key, `unknown key '${f.name}' in ${path}${help}`);
      }
    }
    return out;
  }

  require(
    fields: Map<string, Field>,
    name: string,
    path: string,
    at: Node | null | undefined,
  ): Field | undefined {
    const f = fields.get(name);
    if (!f) this.error(at, `${path}: missing required key '${name}'`);
    else if (!f.value) this.error(f.key, `${path}.${name} has no value`);
    return f?.value ? f : undefined;
  }

  string(field: Field, path: string): string | undefined {
    const n = field.value;
    if (n && isScalar(n) && typeof n.value === 'string') {
      if (n.value.length > 0) return n.value;
      this.error(n, `${path} is empty`);
      return undefined;
    }
    this.error(this.at(field), `${path} must be a string, not ${describe(n)}`);
    return undefined;
  }

  boolean(field: Field, path: string): boolean | undefined {
    const n = field.value;
    if (n && isScalar(n) && typeof n.value === 'boolean') return n.value;
    this.error(this.at(field), `${path} must be true or false, not ${describe(n)}`);
    return undefined;
  }

  integer(field: Field, path: string): number | undefined {
    const n = field.value;
    if (n && isScalar(n) && typeof n.value === 'number' && Number.isSafeInteger(n.value)) return n.value;
    const got = n && isScalar(n) && typeof n.value === 'number' ? sourceText(n) : describe(n);
    this.error(this.at(field), `${path} must be a whole number, not ${got}`);
    return undefined;
  }

  /** `15m`, `1h30m`, `900` (seconds): whole seconds. */
  duration(field: Field, path: string): number | undefined {
    const n = field.value;
    if (n && isScalar(n) && (typeof n.value === 'string' || typeof n.value === 'number')) {
      try {
        return parseDuration(String(n.value));
      } catch (e) {
        this.error(n, `${path}: ${(e as Error).message}`);
        return undefined;
      }
    }
    this.error(this.at(field), `${path} must be a duration like 15m or 1h, not ${describe(n)}`);
    return undefined;
  }

  /** A list of non-empty strings; each bad item is reported. */
  strings(field: Field, path: string, options: { nonEmpty?: boolean } = {}): { value: string; node: Node }[] {
    const n = field.value;
    if (!n || !isSeq(n)) {
      this.error(this.at(field), `${path} must be a list of strings, not ${describe(n)}`);
      return [];
    }
    if (options.nonEmpty && n.items.length === 0) this.error(n, `${path} must not be empty`);
    const out: { value: string; node: Node }[] = [];
    n.items.forEach((item, i) => {
      const value = this.string({ name: `${i}`, key: n, value: this.node(item) }, `${path}[${i}]`);
      if (value !== undefined) out.push({ value, node: this.node(item)! });
    });
    return out;
  }

  /** An absolute URL: https, or http on a loopback host only. */
  url(field: Field, path: string): string | undefined {
    const text = this.string(field, path);
    if (text === undefined) return undefined;
    const refusal = urlRefusal(text);
    if (refusal) this.error(field.value, `${path}: ${refusal.message}`);
    return refusal ? undefined : text;
  }
}

function isPosition(at: unknown): at is SourcePosition {
  return typeof at === 'object' && at !== null && 'line' in at && 'col' in at;
}

/** How a node reads in a message: `not a number`, `not a list`, … */
export function describe(n: Node | null): string {
  if (!n) return 'empty';
  if (isMap(n)) return 'a map';
  if (isSeq(n)) return 'a list';
  if (isScalar(n)) {
    const v = n.value;
    if (typeof v === 'number' || typeof v === 'bigint') return 'a number';
    if (typeof v === 'boolean') return `${v}`;
    if (typeof v === 'string') return 'a string';
  }
  return 'another kind of value';
}

/** The value as written in the file (e.g. `0123`), for messages that quote it back. */
export function sourceText(n: Node): string {
  if (!isScalar(n)) return describe(n);
  return typeof n.source === 'string' ? n.source : String(n.value);
}

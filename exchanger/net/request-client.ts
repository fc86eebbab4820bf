/**
 * Who sent a request, as an audit row records it: the client address (`client-address.ts`, the
 * trusted-proxy rule) and the `User-Agent` the client sent. The user agent is the client's own
 * words: it is cut to a bounded length and its control characters are escaped, so it can neither
 * grow a row without bound nor forge a line in a terminal or a log.
 */
import type { IncomingMessage } from 'node:http';
import { clientAddress } from './client-address.js';
import { formatIp, parseIp } from './ip.js';

/** Longest user agent kept (before escaping); real ones are well under it. */
export const MAX_USER_AGENT = 256;

export interface RequestClient {
  clientAddress: string;
  userAgent?: string;
}

/** The client of a request, for its audit rows. */
export function requestClient(req: IncomingMessage): RequestClient {
  const address = clientAddress(req);
  const userAgent = auditedUserAgent(req.headers['user-agent']);
  return { clientAddress: address, ...(userAgent ? { userAgent } : {}) };
}

/**
 * A user agent as stored: at most `MAX_USER_AGENT` characters (a cut one ends in `…`), then
 * C0, DEL, C1, line separators and bidi controls written as `\uXXXX`, and a backslash as `\\`
 * (so an escape in the text cannot pass for one of ours). Empty: undefined.
 */
export function auditedUserAgent(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const cut = value.length > MAX_USER_AGENT ? `${value.slice(0, MAX_USER_AGENT - 1)}…` : value;
  let out = '';
  for (const ch of cut) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (escaped(c)) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out;
}

function escaped(c: number): boolean {
  return (
    c < 0x20 ||
    (c >= 0x7f && c <= 0x9f) ||
    c === 0x061c ||
    c === 0x200e ||
    c === 0x200f ||
    c === 0x2028 ||
    c === 0x2029 ||
    (c >= 0x202a && c <= 0x202e) ||
    (c >= 0x2066 && c <= 0x2069)
  );
}

/**
 * A sortable key of an address: `4` or `6`, then its bytes in fixed-width hex. Keys of one family
 * sort as the addresses do, so a CIDR range is one interval of keys (`addressKeyRange`): an index
 * on the key answers "which rows came from 10.0.0.0/8" in either store. Undefined: not an address.
 */
export function addressKey(text: string): string | undefined {
  const ip = parseIp(text);
  return ip && keyOf(ip.family, ip.bytes);
}

/**
 * The interval of keys an address (`192.0.2.7`, `2001:db8::1`) or CIDR range (`10.0.0.0/8`,
 * `2001:db8::/32`) covers; bits past the prefix are ignored. Throws an Error naming `setting` and
 * what to write when `text` is neither.
 */
export function addressKeyRange(
  text: string,
  setting: string,
): { from: string; to: string; canonical: string } {
  const refuse = (why: string) =>
    new Error(
      `${setting} '${text}' ${why}: write an address or a CIDR range (192.0.2.7, 10.0.0.0/8, 2001:db8::/32)`,
    );
  const [addr = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) throw refuse('has more than one /');
  const ip = parseIp(addr);
  if (!ip) throw refuse('is not an IPv4 or IPv6 address');
  const width = ip.family === 4 ? 32 : 128;
  // ::ffff:10.0.0.0/104 is 10.0.0.0/8: mapped addresses are keyed as IPv4.
  const mapped = ip.family === 4 && addr.includes(':') ? 96 : 0;
  let prefix = width;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText)) throw refuse(`has a prefix length that is not a number 0–${width}`);
    prefix = Number(prefixText) - mapped;
    if (prefix < 0 || prefix > width) throw refuse(`has a prefix length outside 0–${width + mapped}`);
  }
  const low = ip.bytes.map((b, i) => b & maskByte(prefix, i));
  const high = ip.bytes.map((b, i) => (b & maskByte(prefix, i)) | (~maskByte(prefix, i) & 0xff));
  const canonical = `${formatIp({ family: ip.family, bytes: low })}${prefix === width ? '' : `/${prefix}`}`;
  return { from: keyOf(ip.family, low), to: keyOf(ip.family, high), canonical };
}

function maskByte(prefix: number, index: number): number {
  const bits = Math.max(0, Math.min(8, prefix - index * 8));
  return (0xff << (8 - bits)) & 0xff;
}

function keyOf(family: 4 | 6, bytes: Uint8Array): string {
  return `${family}${Buffer.from(bytes).toString('hex')}`;
}

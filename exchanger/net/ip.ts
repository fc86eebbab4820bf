/**
 * IP addresses and CIDR ranges, for the trusted-proxy list and the client-address keys of the
 * limits. One canonical text per address (IPv4 dotted; IPv6 lower-case, `::`-compressed; an
 * IPv4-mapped IPv6 address as its IPv4 form), so one client is one key however it was spelled.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface Ip {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** A parsed address, or undefined when `text` is not one (no ports, brackets or zone ids). */
export function parseIp(text: string): Ip | undefined {
  if (isIPv4(text)) return { family: 4, bytes: Uint8Array.from(text.split('.').map(Number)) };
  if (!isIPv6(text) || text.includes('%')) return undefined;
  const bytes = ipv6Bytes(text.toLowerCase());
  if (!bytes) return undefined;
  // ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket: the same client as a.b.c.d.
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return { family: 4, bytes: bytes.slice(12) };
  }
  return { family: 6, bytes };
}

function ipv6Bytes(text: string): Uint8Array | undefined {
  let groups: string[];
  const tail: number[] = [];
  let body = text;
  const lastColon = body.lastIndexOf(':');
  if (body.slice(lastColon + 1).includes('.')) {
    // An embedded IPv4 tail (::ffff:10.0.0.1): two groups' worth of bytes.
    const v4 = body.slice(lastColon + 1);
    if (!isIPv4(v4)) return undefined;
    tail.push(...v4.split('.').map(Number));
    body = `${body.slice(0, lastColon + 1)}0:0`;
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  if (halves.length === 2) {
    const missing = 8 - head.length - rest.length;
    if (missing < 1) return undefined;
    groups = [...head, ...Array<string>(missing).fill('0'), ...rest];
  } else groups = head;
  if (groups.length !== 8) return undefined;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = Number.parseInt(g, 16);
    bytes[i * 2] = n >> 8;
    bytes[i * 2 + 1] = n & 0xff;
  });
  if (tail.length) bytes.set(tail, 12);
  return bytes;
}

/** The canonical text of an address (RFC 5952 for IPv6). */
export function formatIp(ip: Ip): string {
  if (ip.family === 4) return ip.bytes.join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((ip.bytes[i]! << 8) | ip.bytes[i + 1]!);
  // The longest run of two or more zero groups becomes '::' (the first such run on a tie).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/**
 * The canonical text of an address as a socket reports it (`::ffff:127.0.0.1` → `127.0.0.1`);
 * text that is not an address comes back unchanged (a missing peer is '').
 */
export function canonicalAddress(text: string | undefined): string {
  if (!text) return '';
  const ip = parseIp(text);
  return ip ? formatIp(ip) : text;
}

interface Range {
  family: 4 | 6;
  bytes: Uint8Array;
  prefix: number;
}

/** A set of CIDR ranges; `has` answers for any address text (mapped IPv6 as its IPv4 form). */
export interface AddressRanges {
  has(address: string): boolean;
  /** The ranges in canonical `address/prefix` form, for logs. */
  readonly ranges: readonly string[];
}

/**
 * `10.0.0.0/8,2001:db8::/32,192.0.2.7` (a bare address is its own /32 or /128). Every problem
 * throws an Error that names `setting` and the entry, and says what to write instead.
 */
export function parseRanges(text: string, setting: string): AddressRanges {
  const entries = text.split(',').map((e) => e.trim());
  if (entries.length === 1 && entries[0] === '') return rangesOf([]);
  return rangesOf(entries.map((entry) => parseRange(entry, setting)));
}

function parseRange(entry: string, setting: string): Range {
  const refuse = (why: string) => new Error(`${setting}: '${entry}' ${why}`);
  if (entry === '') throw refuse('is empty: separate ranges with single commas (10.0.0.0/8,192.0.2.7)');
  const [addr = '', prefixText, extra] = entry.split('/');
  if (extra !== undefined) throw refuse('has more than one /: write ADDRESS/PREFIX, e.g. 10.0.0.0/8');
  const ip = parseIp(addr);
  if (!ip) throw refuse('is not an IPv4 or IPv6 address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32)');
  const mapped = ip.family === 4 && isIPv6(addr);
  const width = ip.family === 4 ? 32 : 128;
  let prefix = width;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText)) throw refuse(`has a prefix length that is not a number 0–${width}`);
    prefix = Number(prefixText) - (mapped ? 96 : 0);
    if (prefix < 0 || prefix > width)
      throw refuse(`has a prefix length over ${mapped ? 128 : width} (or, mapped IPv4, under 96)`);
  }
  if (prefix === 0)
    throw refuse('trusts every address, so any client could name any address: list your proxies');
  const network = mask(ip.bytes, prefix);
  if (!network.every((b, i) => b === ip.bytes[i])) {
    throw refuse(`has bits set past its prefix: write ${formatIp({ ...ip, bytes: network })}/${prefix}`);
  }
  return { family: ip.family, bytes: network, prefix };
}

function mask(bytes: Uint8Array, prefix: number): Uint8Array {
  return bytes.map((b, i) => {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    return b & ((0xff << (8 - bits)) & 0xff);
  });
}

function rangesOf(ranges: Range[]): AddressRanges {
  return {
    ranges: ranges.map((r) => `${formatIp(r)}/${r.prefix}`),
    has(address) {
      const ip = parseIp(address);
      if (!ip) return false;
      return ranges.some(
        (r) => r.family === ip.family && mask(ip.bytes, r.prefix).every((b, i) => b === r.bytes[i]),
      );
    },
  };
}

/**
 * The key a per-address limit counts a client by: an IPv4 address itself, an IPv6 address by its
 * /64 (one host is routinely given a whole /64, so counting single IPv6 addresses would give one
 * attacker 2^64 budgets). Text that is not an address is its own key.
 */
export function limitKey(address: string): string {
  const ip = parseIp(address);
  if (!ip) return address;
  if (ip.family === 4) return formatIp(ip);
  return `${formatIp({ family: 6, bytes: mask(ip.bytes, 64) })}/64`;
}

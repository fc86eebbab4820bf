/**
 * "The client address" of a request: the one every per-address limit, refusal fold and audit
 * summary keys on. It is the socket peer, unless that peer is a configured trusted proxy
 * (`--trusted-proxies`): then it is the right-most address in the proxy's forwarded header that
 * is not itself a trusted proxy, walking from the right past trusted hops. A client can write
 * anything into that header; only the hops our own proxies appended (the right end) are facts.
 *
 * One header is believed, the one the operator names (`X-Forwarded-For` by default, or RFC 7239
 * `Forwarded`): a proxy appends to one of them and passes the other through from the client as
 * it came, so believing both would let a client choose its own address. A hop reached on that
 * walk that cannot be read (not an address, `unknown`, an obfuscated `_hidden`, a `Forwarded`
 * element without `for=`) gives the peer; what lies left of the client's hop is never read.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { type AddressRanges, canonicalAddress, formatIp, type Ip, parseIp, parseRanges } from './ip.js';

export type ForwardedHeader = 'x-forwarded-for' | 'forwarded';
export const FORWARDED_HEADERS: readonly ForwardedHeader[] = ['x-forwarded-for', 'forwarded'];

export interface ProxyTrust {
  /** Peers whose forwarded header is believed. Empty: every request's client is its peer. */
  proxies: AddressRanges;
  header: ForwardedHeader;
}

export const NO_TRUSTED_PROXIES: ProxyTrust = { proxies: parseRanges('', ''), header: 'x-forwarded-for' };

/**
 * The trusted proxies as an operator wrote them (`--trusted-proxies 10.0.0.0/8,::1` and
 * `--forwarded-header`); a bad value throws an Error naming the setting and what to write.
 */
export function parseProxyTrust(
  settings: { proxies?: string | undefined; header?: string | undefined },
  names = { proxies: '--trusted-proxies', header: '--forwarded-header' },
): ProxyTrust {
  const header = (settings.header || 'x-forwarded-for').toLowerCase();
  if (!FORWARDED_HEADERS.includes(header as ForwardedHeader)) {
    throw new Error(
      `${names.header} must be ${FORWARDED_HEADERS.join(' or ')} (the header your proxy sets), got '${settings.header}'`,
    );
  }
  return { proxies: parseRanges(settings.proxies ?? '', names.proxies), header: header as ForwardedHeader };
}

/** The client address for a peer and request headers (pure; `clientAddress(req)` below uses it). */
export function resolveClientAddress(
  peer: string | undefined,
  headers: IncomingHttpHeaders,
  trust: ProxyTrust,
): string {
  const direct = canonicalAddress(peer);
  if (!trust.proxies.has(direct)) return direct;
  const value = headers[trust.header];
  const text = Array.isArray(value) ? value.join(',') : value;
  if (!text) return direct;
  const forwarded = trust.header === 'forwarded';
  // Walked from the right, one element at a time: only the hops our proxies appended are
  // facts, so what a client wrote left of its own hop (`proto=https`, a stray quote) is
  // never read, and cannot make the whole header unreadable.
  let last: Ip | undefined;
  for (const element of elementsFromRight(text, forwarded)) {
    const hop = forwarded ? forwardedFor(element) : element;
    const ip = hop === undefined ? undefined : parseHop(hop.trim());
    if (!ip) return direct;
    const address = formatIp(ip);
    if (!trust.proxies.has(address)) return address;
    last = ip;
  }
  // Every hop trusted: the left-most is the furthest one known.
  return last ? formatIp(last) : direct;
}

/**
 * The comma-separated elements of a header value, right-most first. For `Forwarded`, a comma in
 * a quoted string does not split: quotes are matched from the right, so only the elements
 * walked so far (our proxies') decide where the next one starts.
 */
function* elementsFromRight(text: string, quoted: boolean): Generator<string> {
  let end = text.length;
  let inQuote = false;
  for (let i = text.length - 1; i >= 0; i--) {
    const c = text[i];
    if (quoted && c === '"') {
      let slashes = 0;
      while (text[i - 1 - slashes] === '\\') slashes++;
      // From the right, a quote opens a quoted string; inside one, an escaped quote (an odd
      // run of backslashes before it) does not end it.
      if (!inQuote) inQuote = true;
      else if (slashes % 2 === 0) inQuote = false;
    } else if (c === ',' && !inQuote) {
      yield text.slice(i + 1, end);
      end = i;
    }
  }
  yield text.slice(0, end);
}

/** `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:443`. */
function parseHop(hop: string): Ip | undefined {
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(hop);
  if (bracketed) return parseIp(bracketed[1]!);
  const v4WithPort = /^([\d.]+):\d{1,5}$/.exec(hop);
  if (v4WithPort) return parseIp(v4WithPort[1]!);
  return parseIp(hop);
}

/**
 * The `for=` of one RFC 7239 `Forwarded` element (pairs split by semicolons, values tokens or
 * quoted strings); undefined when the element cannot be read or has no `for=`, or two.
 */
function forwardedFor(text: string): string | undefined {
  let found: string | undefined;
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    const eq = text.indexOf('=', i);
    if (eq < 0) return undefined;
    const name = text.slice(i, eq).trim().toLowerCase();
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) return undefined;
    i = eq + 1;
    let value = '';
    if (text[i] === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === '\\') i++;
        value += text[i] ?? '';
      }
      if (text[i] !== '"') return undefined;
      i++;
    } else {
      const end = text.indexOf(';', i);
      value = text.slice(i, end < 0 ? text.length : end).trim();
      i = end < 0 ? text.length : end;
    }
    if (name === 'for') {
      if (found !== undefined) return undefined;
      found = value;
    }
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (i >= text.length) break;
    if (text[i] !== ';') return undefined;
    i++;
  }
  return found;
}

const bound = new WeakMap<IncomingMessage, string>();

/**
 * Works out and remembers a request's client address; the server calls it once per request,
 * with its `--trusted-proxies`, before any route runs.
 */
export function bindClientAddress(req: IncomingMessage, trust: ProxyTrust): string {
  const address = resolveClientAddress(req.socket.remoteAddress, req.headers, trust);
  bound.set(req, address);
  return address;
}

/**
 * The client address of a request: what the server bound (`bindClientAddress`), else the
 * socket peer in canonical form. Use this, never `req.socket.remoteAddress`, for anything that
 * counts, folds or names a client.
 */
export function clientAddress(req: IncomingMessage): string {
  return bound.get(req) ?? canonicalAddress(req.socket.remoteAddress);
}

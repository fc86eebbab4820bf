/**
 * "The client address" of a request: the one every per-address limit, refusal fold and audit
 * summary keys on. It is the socket peer, unless that peer is a configured trusted proxy
 * (`--trusted-proxies`): then it is the right-most address in the proxy's forwarded header that
 * is not itself a trusted proxy, walking from the right past trusted hops. A client can write
 * anything into that header; only the hops our own proxies appended (the right end) are facts.
 *
 * One header is believed, the one the operator names (`X-Forwarded-For` by default, or RFC 7239
 * `Forwarded`): a proxy appends to one of them and passes the other through from the client as
 * it came, so believing both would let a client choose its own address. A header that cannot be
 * read (a hop that is not an address, `unknown`, an obfuscated `_hidden`) gives the peer.
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
  const hops = trust.header === 'forwarded' ? forwardedFor(text) : text.split(',');
  if (!hops) return direct;
  for (let i = hops.length - 1; i >= 0; i--) {
    const ip = parseHop(hops[i]!.trim());
    if (!ip) return direct;
    const address = formatIp(ip);
    // Every hop trusted: the left-most is the furthest one known.
    if (i === 0 || !trust.proxies.has(address)) return address;
  }
  return direct;
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
 * The `for=` of each element of an RFC 7239 `Forwarded` value (elements split by commas,
 * pairs by semicolons, values tokens or quoted strings); undefined when it cannot be read or an
 * element has no `for=`.
 */
function forwardedFor(text: string): string[] | undefined {
  const hops: string[] = [];
  let found: string | undefined;
  let i = 0;
  const endElement = () => {
    if (found === undefined) return false;
    hops.push(found);
    found = undefined;
    return true;
  };
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
      const end = /[;,]/.exec(text.slice(i));
      value = text.slice(i, end ? i + end.index : text.length).trim();
      i = end ? i + end.index : text.length;
    }
    if (name === 'for') {
      if (found !== undefined) return undefined;
      found = value;
    }
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (i >= text.length) break;
    if (text[i] === ',') {
      if (!endElement()) return undefined;
    } else if (text[i] !== ';') return undefined;
    i++;
  }
  return endElement() ? hops : undefined;
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

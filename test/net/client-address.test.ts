/**
 * The client address of a request (exchanger/net/client-address.ts) and the CIDR ranges of
 * `--trusted-proxies` (exchanger/net/ip.ts): forwarded headers are believed only from a trusted
 * peer, walked from the right past trusted hops; anything unreadable gives the peer.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  NO_TRUSTED_PROXIES,
  parseProxyTrust,
  resolveClientAddress,
} from '../../exchanger/net/client-address.js';
import { canonicalAddress, limitKey, parseRanges } from '../../exchanger/net/ip.js';

describe('canonical addresses', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['::FFFF:7f00:1', '127.0.0.1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['fe80::', 'fe80::'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:3:4:5:6'],
    ['not an address', 'not an address'],
    [undefined, ''],
  ])('%s is %s', (text, canonical) => {
    expect(canonicalAddress(text)).toBe(canonical);
  });
});

describe('limit keys', () => {
  it.each([
    ['192.0.2.7', '192.0.2.7'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:db8:1:3::1', '2001:db8:1:3::/64'],
    ['::1', '::/64'],
    ['', ''],
  ])('%s is counted as %s', (address, key) => {
    expect(limitKey(address)).toBe(key);
  });
});

describe('trusted proxy ranges', () => {
  const ranges = parseRanges(
    '10.0.0.0/8, 192.0.2.7,2001:db8::/32,::ffff:172.16.0.0/108',
    '--trusted-proxies',
  );

  it.each([
    ['10.1.2.3', true],
    ['::ffff:10.1.2.3', true],
    ['11.0.0.1', false],
    ['192.0.2.7', true],
    ['192.0.2.8', false],
    ['2001:db8:ffff::1', true],
    ['2001:db9::1', false],
    ['172.16.5.5', true],
    ['172.32.0.1', false],
    ['', false],
    ['garbage', false],
  ])('%s is trusted: %s', (address, trusted) => {
    expect(ranges.has(address)).toBe(trusted);
  });

  it('lists the ranges in canonical form', () => {
    expect(ranges.ranges).toEqual(['10.0.0.0/8', '192.0.2.7/32', '2001:db8::/32', '172.16.0.0/12']);
  });

  it.each([
    ['10.0.0.0/33', /'10.0.0.0\/33' has a prefix length over 32/],
    ['10.0.0.0/x', /'10.0.0.0\/x' has a prefix length that is not a number 0–32/],
    ['10.0.0.1/8', /'10.0.0.1\/8' has bits set past its prefix: write 10.0.0.0\/8/],
    ['2001:db8::1/32', /write 2001:db8::\/32/],
    ['0.0.0.0/0', /trusts every address/],
    ['::/0', /trusts every address/],
    ['10.0.0.0/8,,192.0.2.1', /'' is empty: separate ranges with single commas/],
    ['10.0.0.0/8/9', /has more than one \//],
    ['ingress.example', /'ingress.example' is not an IPv4 or IPv6 address or CIDR range/],
    ['10.0.0.256', /is not an IPv4 or IPv6 address/],
    ['fe80::1%eth0', /is not an IPv4 or IPv6 address/],
  ])('refuses %s with a message that says what to write', (text, message) => {
    expect(() => parseRanges(text, '--trusted-proxies')).toThrow(/^--trusted-proxies: /);
    expect(() => parseRanges(text, '--trusted-proxies')).toThrow(message);
  });

  it('an empty list trusts nobody', () => {
    expect(parseRanges('', '--trusted-proxies').has('127.0.0.1')).toBe(false);
  });
});

describe('resolveClientAddress', () => {
  const xff = parseProxyTrust({ proxies: '10.0.0.0/8,::1' });
  const fwd = parseProxyTrust({ proxies: '10.0.0.0/8,::1', header: 'Forwarded' });
  const cases: {
    name: string;
    peer: string;
    headers: IncomingHttpHeaders;
    trust?: typeof xff;
    want: string;
  }[] = [
    { name: 'an untrusted peer is the client', peer: '198.51.100.1', headers: {}, want: '198.51.100.1' },
    {
      name: 'a forged X-Forwarded-For from an untrusted peer is ignored',
      peer: '198.51.100.1',
      headers: { 'x-forwarded-for': '203.0.113.9' },
      want: '198.51.100.1',
    },
    {
      name: 'a trusted peer without the header is the client',
      peer: '10.0.0.2',
      headers: {},
      want: '10.0.0.2',
    },
    {
      name: 'the right-most hop a trusted proxy appended',
      peer: '10.0.0.2',
      headers: { 'x-forwarded-for': '203.0.113.9' },
      want: '203.0.113.9',
    },
    {
      name: "a client's own entries left of the proxy's are not believed",
      peer: '10.0.0.2',
      headers: { 'x-forwarded-for': '1.1.1.1, 203.0.113.9' },
      want: '203.0.113.9',
    },
    {
      name: 'trusted hops are walked past from the right',
      peer: '::ffff:10.0.0.2',
      headers: { 'x-forwarded-for': '1.1.1.1,203.0.113.9 , 10.9.9.9,10.0.0.3' },
      want: '203.0.113.9',
    },
    {
      name: 'every hop trusted: the left-most',
      peer: '10.0.0.2',
      headers: { 'x-forwarded-for': '10.1.1.1, 10.0.0.3' },
      want: '10.1.1.1',
    },
    {
      name: 'IPv6 hops, bracketed and with ports, in canonical form',
      peer: '::1',
      headers: { 'x-forwarded-for': '[2001:DB8::0:7]:4711' },
      want: '2001:db8::7',
    },
    {
      name: 'an IPv4 hop with a port',
      peer: '10.0.0.2',
      headers: { 'x-forwarded-for': '203.0.113.9:51234' },
      want: '203.0.113.9',
    },
    {
      name: 'an IPv4-mapped hop is the IPv4 client',
      peer: '10.0.0.2',
      headers: { 'x-forwarded-for': '::ffff:203.0.113.9' },
      want: '203.0.113.9',
    },
    {
      name: 'a malformed right-most hop gives the peer',
      peer: '10.0.0.2',
      headers: { 'x-forwarded-for': '203.0.113.9, <script>' },
      want: '10.0.0.2',
    },
    {
      name: 'a malformed hop past the trusted ones gives the peer',
      peer: '10.0.0.2',
      headers: { 'x-forwarded-for': 'unknown, 10.0.0.3' },
      want: '10.0.0.2',
    },
    {
      name: 'a malformed hop left of the client is never read',
      peer: '10.0.0.2',
      headers: { 'x-forwarded-for': 'garbage,, 203.0.113.9' },
      want: '203.0.113.9',
    },
    {
      name: 'an empty header gives the peer',
      peer: '10.0.0.2',
      headers: { 'x-forwarded-for': '' },
      want: '10.0.0.2',
    },
    {
      name: 'a huge header gives the peer, quickly',
      peer: '10.0.0.2',
      headers: { 'x-forwarded-for': `${'9'.repeat(30_000)}` },
      want: '10.0.0.2',
    },
    {
      name: 'Forwarded is not read when X-Forwarded-For is the configured header',
      peer: '10.0.0.2',
      headers: { forwarded: 'for=203.0.113.1', 'x-forwarded-for': '203.0.113.9' },
      want: '203.0.113.9',
    },
    {
      name: 'Forwarded: for= of the right-most element',
      peer: '10.0.0.2',
      headers: { forwarded: 'for=1.1.1.1;proto=https, For="[2001:db8::17]:4711";by=10.0.0.2' },
      trust: fwd,
      want: '2001:db8::17',
    },
    {
      name: 'Forwarded walked past trusted hops, quoted strings with commas and escapes',
      peer: '10.0.0.2',
      headers: { forwarded: 'for=203.0.113.9;host="a,b\\"c", for="10.0.0.7:80"' },
      trust: fwd,
      want: '203.0.113.9',
    },
    // A client cannot hide behind the proxy by making its own part of Forwarded unreadable:
    // elements are split from the right and only those the walk reaches are parsed.
    ...[
      ['an element without for=', 'proto=https, for=203.0.113.9'],
      ['an unbalanced quote', 'for="x, for=203.0.113.9'],
      ['a stray quote in a pair', 'host=a"b, for=203.0.113.9'],
      ['two for= in one element', 'for=1.1.1.1;for=2.2.2.2, for=203.0.113.9'],
      ['garbage', '<script>,,;=, for=203.0.113.9'],
      ['a quoted comma that looks like a hop', 'x="a, for=1.1.1.1", for=203.0.113.9'],
    ].map(([what, forwarded]) => ({
      name: `Forwarded: ${what} left of the proxy's element is never read`,
      peer: '10.0.0.2',
      headers: { forwarded },
      trust: fwd,
      want: '203.0.113.9',
    })),
    {
      name: 'Forwarded: past trusted hops, an unreadable client element gives the peer',
      peer: '10.0.0.2',
      headers: { forwarded: 'proto=https, for=10.0.0.7' },
      trust: fwd,
      want: '10.0.0.2',
    },
    {
      name: 'Forwarded: a quoted comma in a trusted element does not split it',
      peer: '10.0.0.2',
      headers: { forwarded: 'for=203.0.113.9, for="10.0.0.7";host="a,\\"b"' },
      trust: fwd,
      want: '203.0.113.9',
    },
    {
      name: 'Forwarded: every element trusted gives the left-most',
      peer: '10.0.0.2',
      headers: { forwarded: 'for=10.1.1.1;proto=https, for=10.0.0.7' },
      trust: fwd,
      want: '10.1.1.1',
    },
    {
      name: 'X-Forwarded-For is not read when Forwarded is the configured header',
      peer: '10.0.0.2',
      headers: { 'x-forwarded-for': '203.0.113.9' },
      trust: fwd,
      want: '10.0.0.2',
    },
    ...[
      'for=unknown',
      'for=_hidden',
      'proto=https',
      'for=1.2.3.4;for=5.6.7.8',
      'for="1.2.3.4',
      'for',
      ',',
      'for=1.2.3.4 x',
    ].map((forwarded) => ({
      name: `an unreadable Forwarded (${forwarded}) gives the peer`,
      peer: '10.0.0.2',
      headers: { forwarded },
      trust: fwd,
      want: '10.0.0.2',
    })),
    {
      name: 'no trusted proxies: the peer, whatever the headers',
      peer: '127.0.0.1',
      headers: { 'x-forwarded-for': '203.0.113.9', forwarded: 'for=203.0.113.9' },
      trust: NO_TRUSTED_PROXIES,
      want: '127.0.0.1',
    },
  ];
  it.each(cases)('$name', ({ peer, headers, trust, want }) => {
    expect(resolveClientAddress(peer, headers, trust ?? xff)).toBe(want);
  });

  it('refuses an unknown header name, saying which are accepted', () => {
    expect(() => parseProxyTrust({ header: 'x-real-ip' })).toThrow(
      "--forwarded-header must be x-forwarded-for or forwarded (the header your proxy sets), got 'x-real-ip'",
    );
  });
});

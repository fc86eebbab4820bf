/**
 * Which requests go through which proxy (src/transport/proxy.ts): the rules of @actions/http-client's
 * proxy.ts, table by table.
 */
import { describe, expect, it } from 'vitest';
import { ActionError } from '../../src/shared/errors.js';
import { bypassed, parseProxyUrl, proxyFor } from '../../src/transport/proxy.js';

const PROXY = 'http://proxy.corp:3128';

describe('proxyFor', () => {
  it.each([
    { name: 'no variables: direct', url: 'https://jitkey.example.com', env: {}, want: undefined },
    {
      name: 'https target: HTTPS_PROXY',
      url: 'https://jitkey.example.com',
      env: { HTTPS_PROXY: PROXY },
      want: PROXY,
    },
    {
      name: 'lower case wins over upper case',
      url: 'https://jitkey.example.com',
      env: { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:2' },
      want: 'http://lower:1',
    },
    {
      name: 'https target ignores HTTP_PROXY',
      url: 'https://jitkey.example.com',
      env: { HTTP_PROXY: PROXY },
      want: undefined,
    },
    {
      name: 'http target: HTTP_PROXY, not HTTPS_PROXY',
      url: 'http://runner.example.com/token',
      env: { HTTPS_PROXY: 'http://other:1', http_proxy: PROXY },
      want: PROXY,
    },
    {
      name: 'empty variable: direct',
      url: 'https://a.example.com',
      env: { HTTPS_PROXY: '' },
      want: undefined,
    },
    {
      name: 'loopback is never proxied',
      url: 'http://127.0.0.1:8080',
      env: { HTTP_PROXY: PROXY },
      want: undefined,
    },
    {
      name: 'localhost is never proxied',
      url: 'http://localhost:8080',
      env: { HTTP_PROXY: PROXY },
      want: undefined,
    },
    { name: '::1 is never proxied', url: 'http://[::1]:8080', env: { HTTP_PROXY: PROXY }, want: undefined },
  ])('$name', ({ url, env, want }) => {
    expect(proxyFor(new URL(url), env)?.origin).toBe(want);
  });
});

describe('NO_PROXY', () => {
  it.each([
    { noProxy: '*', url: 'https://anything.example.org', want: true },
    { noProxy: 'example.com', url: 'https://example.com', want: true },
    { noProxy: 'example.com', url: 'https://a.b.example.com', want: true },
    { noProxy: 'example.com', url: 'https://badexample.com', want: false },
    { noProxy: '.example.com', url: 'https://a.example.com', want: true },
    { noProxy: '.example.com', url: 'https://example.com', want: false },
    { noProxy: 'example.com:8443', url: 'https://example.com:8443', want: true },
    { noProxy: 'example.com:8443', url: 'https://example.com', want: false },
    { noProxy: 'example.com:443', url: 'https://example.com', want: true },
    { noProxy: 'example.com:80', url: 'http://example.com/x', want: true },
    { noProxy: ' other.org , EXAMPLE.com ', url: 'https://jitkey.example.com', want: true },
    { noProxy: 'other.org,,', url: 'https://jitkey.example.com', want: false },
  ])('$noProxy against $url: $want', ({ noProxy, url, want }) => {
    expect(bypassed(new URL(url), { NO_PROXY: noProxy })).toBe(want);
    expect(
      proxyFor(new URL(url), { NO_PROXY: noProxy, HTTPS_PROXY: PROXY, HTTP_PROXY: PROXY }) === undefined,
    ).toBe(want);
  });

  it('reads no_proxy before NO_PROXY', () => {
    const url = new URL('https://jitkey.example.com');
    expect(bypassed(url, { no_proxy: 'other.org', NO_PROXY: 'example.com' })).toBe(false);
    expect(bypassed(url, { no_proxy: 'example.com', NO_PROXY: 'other.org' })).toBe(true);
  });
});

describe('parseProxyUrl', () => {
  it('takes a bare host:port as http and turns user:password into Proxy-Authorization', () => {
    expect(parseProxyUrl('proxy.corp:3128', 'HTTPS_PROXY')).toEqual({
      origin: 'http://proxy.corp:3128',
      hostname: 'proxy.corp',
      port: 3128,
      variable: 'HTTPS_PROXY',
    });
    const route = parseProxyUrl('http://ci%40corp:p%3Ass@proxy.corp', 'HTTPS_PROXY');
    expect(route.port).toBe(80);
    expect(route.origin).toBe('http://proxy.corp');
    expect(route.authorization).toBe(`Basic ${Buffer.from('ci@corp:p:ss').toString('base64')}`);
  });

  it.each([
    {
      value: 'https://proxy.corp:3128',
      message: /HTTPS_PROXY names a https:\/\/ proxy; .* use http:\/\/host:port/,
    },
    { value: 'socks5://proxy.corp:1080', message: /HTTPS_PROXY names a socks5:\/\/ proxy/ },
    { value: 'http://user:pa ss@[bad', message: /HTTPS_PROXY is not a proxy URL such as http:\/\/proxy/ },
  ])('refuses $value with a message that does not quote it', ({ value, message }) => {
    let error: unknown;
    try {
      parseProxyUrl(value, 'HTTPS_PROXY');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ActionError);
    expect((error as ActionError).code).toBe('invalid_input');
    expect((error as ActionError).message).toMatch(message);
    expect((error as ActionError).message).not.toContain('pa ss');
  });
});

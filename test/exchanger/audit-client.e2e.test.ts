/**
 * Every audit row names its client (issue 26, item 1), by the trusted-proxy rule: behind a
 * trusted proxy, the address the proxy forwarded; from anyone else, the peer, whatever it forged
 * in X-Forwarded-For. The user agent is kept cut and escaped; `jitkey audit --client` filters by
 * an address or a CIDR range.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/exchanger-process.js';
import { type Stack, startStack } from '../support/stack.js';

const PROXY = '127.0.0.2';
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ exchanger: { args: ['--trusted-proxies', `${PROXY}/32`] } });
});
afterAll(() => stack?.stop());

/** A POST from a chosen loopback address (the proxy or a plain client), with raw headers. */
function postFrom(
  localAddress: string,
  path: string,
  body: unknown,
  headers: Record<string, string>,
): Promise<{ status: number; body: Record<string, string> }> {
  const url = new URL(path, stack.exchanger.url);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', localAddress, headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {} }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const audit = async (...args: string[]) => {
  const { code, stdout, stderr } = await runCli([
    'audit',
    '--store',
    stack.exchanger.store,
    '--json',
    ...args,
  ]);
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  return stdout
    .trimEnd()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, string>);
};

describe('the client of each audit row', () => {
  // A tab and a C1 control (NEL, sent as the byte 0x85) in a long user agent.
  const userAgent = `deploy-bot/2.0\t\x85${'a'.repeat(400)}`;
  let viaProxy: { status: number; body: Record<string, string> };
  let forged: { status: number; body: Record<string, string> };

  beforeAll(async () => {
    viaProxy = await postFrom(
      PROXY,
      '/v1/exchange',
      { role: 'deploy' },
      {
        authorization: `Bearer ${stack.idp.mint()}`,
        'x-forwarded-for': '192.0.2.200, 198.51.100.23',
        'user-agent': userAgent,
      },
    );
    forged = await postFrom(
      '127.0.0.1',
      '/v1/exchange',
      { role: 'deploy' },
      {
        authorization: `Bearer ${stack.idp.mint({ ref: 'refs/heads/dev' })}`,
        'x-forwarded-for': '203.0.113.66',
      },
    );
  });

  it('behind the trusted proxy: the forwarded address, and the user agent cut and escaped', async () => {
    expect(viaProxy.status).toBe(200);
    const [row] = await audit('--client', '198.51.100.23');
    expect(row).toMatchObject({ event: 'exchange', outcome: 'allowed', lease_id: viaProxy.body.lease_id });
    expect(row!.client_address).toBe('198.51.100.23');
    // NEL goes out as UTF-8 (C2 85) and is read back as Latin-1 header bytes: 'Â' then U+0085.
    expect(row!.user_agent!.slice(0, 30)).toBe('deploy-bot/2.0\\u0009Â\\u0085aaa');
    expect(row!.user_agent!.endsWith('a…')).toBe(true);
    expect(row!.user_agent!.length).toBeLessThanOrEqual(256 + 10);
  });

  it('from an untrusted peer: the peer, not the address it forged', async () => {
    expect(forged.status).toBe(403);
    const rows = await audit('--client', '127.0.0.1');
    expect(rows.map((r) => [r.event, r.outcome, r.client_address, r.error_code])).toEqual([
      ['exchange', 'denied', '127.0.0.1', 'access_denied'],
    ]);
    expect(await audit('--client', '203.0.113.0/24')).toEqual([]);
  });

  it('a revoke through the proxy names the forwarded client too; --client takes a range', async () => {
    const revoked = await postFrom(
      PROXY,
      '/v1/revoke',
      { lease_id: viaProxy.body.lease_id, revoke_token: viaProxy.body.revoke_token },
      { 'x-forwarded-for': '198.51.100.77', 'user-agent': 'jitkey-action/post' },
    );
    expect(revoked.status).toBe(204);
    const rows = await audit('--client', '198.51.100.0/24');
    expect(rows.map((r) => [r.event, r.client_address, r.user_agent?.slice(0, 18)])).toEqual([
      ['revoke', '198.51.100.77', 'jitkey-action/post'],
      ['exchange', '198.51.100.23', 'deploy-bot/2.0\\u00'],
    ]);
    const everyone = await audit();
    expect(everyone.map((r) => r.client_address).sort()).toEqual([
      '127.0.0.1',
      '198.51.100.23',
      '198.51.100.77',
    ]);
  });

  it('--client refuses what is not an address or range, saying what to write', async () => {
    const { code, stderr } = await runCli([
      'audit',
      '--store',
      stack.exchanger.store,
      '--client',
      'runner-7',
    ]);
    expect(code).not.toBe(0);
    expect(stderr).toContain(
      "invalid --client 'runner-7' is not an IPv4 or IPv6 address: write an address or a CIDR range",
    );
  });
});

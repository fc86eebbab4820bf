/**
 * `jitkey serve` wiring of the issue-16 limits: the environment settings, `--audit-retention`, and
 * the probes, against real processes on loopback.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../exchanger/store/open.js';
import { eventually } from '../support/eventually.js';
import { type ExchangerProcess, runCli, startExchanger } from '../support/exchanger-process.js';
import { firstStatus, rawConnect } from '../support/raw-http.js';

const POLICY = `version: 1
issuers: [{ url: "https://token.actions.githubusercontent.com", audience: jitkey }]
roles:
  deploy:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/web-deploy" }
    allow: [{ repository_id: "123456" }]
`;

let running: ExchangerProcess | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

describe('jitkey serve limits', () => {
  it.each([
    [['--audit-retention', '10m'], {}, /--audit-retention '10m' is under an hour/],
    [['--audit-retention', 'forever'], {}, /--audit-retention must be a duration such as 90d/],
    [[], { JITKEY_MAX_IN_FLIGHT: 'lots' }, /JITKEY_MAX_IN_FLIGHT must be a whole number above 0, got 'lots'/],
    [
      [],
      { JITKEY_MAX_CONNECTIONS_PER_PEER: '-1' },
      /JITKEY_MAX_CONNECTIONS_PER_PEER must be a whole number \(0 turns the cap off\)/,
    ],
    [
      [],
      { JITKEY_IN_FLIGHT_WAIT_MS: '1.5' },
      /JITKEY_IN_FLIGHT_WAIT_MS must be a whole number \(0: no wait\)/,
    ],
    [
      ['--trusted-proxies', '10.0.0.1/8'],
      {},
      /--trusted-proxies \(or JITKEY_TRUSTED_PROXIES\): '10.0.0.1\/8' has bits set past its prefix: write 10.0.0.0\/8/,
    ],
    [
      [],
      { JITKEY_TRUSTED_PROXIES: 'ingress-nginx' },
      /JITKEY_TRUSTED_PROXIES\): 'ingress-nginx' is not an IPv4 or IPv6 address or CIDR range/,
    ],
    [
      ['--trusted-proxies', '10.0.0.0/8', '--forwarded-header', 'x-real-ip'],
      {},
      /--forwarded-header \(or JITKEY_FORWARDED_HEADER\) must be x-forwarded-for or forwarded/,
    ],
  ])('refuses %j %j with a message that says what to change', async (extra, env, message) => {
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-limits-'));
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, POLICY);
    const out = await runCli(
      ['serve', '--policy', policy, '--port', '0', '--store', `sqlite:${join(dir, 'db')}`, ...extra],
      env,
    );
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(message);
  });

  it('caps connections per peer from the environment, and answers HEAD on the probes', async () => {
    running = await startExchanger({
      policy: POLICY,
      env: { JITKEY_MAX_CONNECTIONS_PER_PEER: '2', JITKEY_CONNECTION_QUEUE_PER_PEER: '0' },
    });
    const held = [
      await rawConnect(running.port, { localAddress: '127.0.0.9' }),
      await rawConnect(running.port, { localAddress: '127.0.0.9' }),
    ];
    for (const c of held)
      c.socket.write('POST /v1/exchange HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{');
    await fetch(`${running.url}/healthz`);
    const third = await rawConnect(running.port, { localAddress: '127.0.0.9' });
    await third.closed;
    expect(third.received()).toBe('');
    const head = await fetch(`${running.url}/readyz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const other = await rawConnect(running.port, { localAddress: '127.0.0.10' });
    other.socket.write('HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(await firstStatus(other)).toBe(200);
    for (const c of held) c.socket.destroy();
  });

  it('--trusted-proxies exempts the proxy from the connection cap and says so when it starts', async () => {
    running = await startExchanger({
      policy: POLICY,
      args: ['--trusted-proxies', '127.0.0.1/32, 2001:db8::/32'],
      env: { JITKEY_MAX_CONNECTIONS_PER_PEER: '2', JITKEY_CONNECTION_QUEUE_PER_PEER: '0' },
    });
    expect(running.output()).toMatch(
      /"msg":"listening".*"trusted_proxies":\["127.0.0.1\/32","2001:db8::\/32"\],"forwarded_header":"x-forwarded-for"/,
    );
    const held = [await rawConnect(running.port), await rawConnect(running.port)];
    for (const c of held)
      c.socket.write('POST /v1/exchange HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{');
    const third = await rawConnect(running.port);
    third.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(await firstStatus(third)).toBe(200);
    // Anyone else is held to the cap.
    const other = [
      await rawConnect(running.port, { localAddress: '127.0.0.9' }),
      await rawConnect(running.port, { localAddress: '127.0.0.9' }),
    ];
    const refused = await rawConnect(running.port, { localAddress: '127.0.0.9' });
    await refused.closed;
    expect(refused.received()).toBe('');
    for (const c of [...held, ...other]) c.socket.destroy();
  });

  it('--audit-retention purges audit rows older than it in the background purge', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-retention-'));
    const store = `sqlite:${join(dir, 'jitkey.db')}`;
    const seed = await openStore(store, { purgeIntervalMs: 0 });
    const row = (requestId: string, daysAgo: number) => ({
      at: new Date(Date.now() - daysAgo * 86_400_000),
      requestId,
      event: 'exchange' as const,
      outcome: 'denied' as const,
      reason: 'seeded',
      claims: {},
    });
    await seed.record(row('req_old', 91));
    await seed.record(row('req_recent', 89));
    await seed.close();
    running = await startExchanger({
      policy: POLICY,
      store,
      args: ['--audit-retention', '90d'],
      env: { JITKEY_PURGE_INTERVAL_MS: '50' },
    });
    const ids = await eventually(async () => {
      const reader = await openStore(store, { purgeIntervalMs: 0 });
      const rows = (await reader.queryAudit({})).map((r) => r.requestId);
      await reader.close();
      return rows.includes('req_old') ? undefined : rows;
    }, 'the purge of the old audit row');
    expect(ids).toEqual(['req_recent']);
  });
});

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
    running = await startExchanger({ policy: POLICY, env: { JITKEY_MAX_CONNECTIONS_PER_PEER: '2' } });
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

/**
 * `jitkey serve` with `JITKEY_EXPORT_TO`: real exchanges (granted, refused, revoked) reach a
 * SIEM intake over TLS in the background, as OCSF, once each although two workers serve, and
 * no credential of the exchange (the job's token, the AWS secret and session token, the revoke
 * token) is in any event sent. A bad export setting stops the start with what to write.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../exchanger/store/open.js';
import { entry } from '../store/contract.js';
import { eventually } from '../support/eventually.js';
import { CLI } from '../support/paths.js';
import { startSiemStandin } from '../support/siem-standin.js';
import { startStack } from '../support/stack.js';
import { HOSTS_PRELOAD, TEST_CA } from '../support/tls-front.js';

const dir = mkdtempSync(join(tmpdir(), 'jitkey-serve-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const TOKEN = '5d0c7e2a-hec-serve-token-91af';

describe('jitkey serve exports the audit trail in the background', () => {
  it('sends every decision once over TLS, with no credential in it', { timeout: 120_000 }, async () => {
    const siem = await startSiemStandin({
      tls: true,
      kind: 'splunk',
      token: TOKEN,
      plan: (n) => (n === 1 ? { status: 503, retryAfter: '1' } : 'ok'),
    });
    const tokenFile = join(dir, 'hec-token');
    writeFileSync(tokenFile, `Splunk ${TOKEN}\n`);
    const stack = await startStack({
      exchanger: {
        args: ['--workers', '2'],
        env: {
          JITKEY_EXPORT_TO: siem.url,
          JITKEY_EXPORT_BODY: 'splunk-hec',
          JITKEY_EXPORT_HEADER_FILE: `Authorization=${tokenFile}`,
          JITKEY_EXPORT_POLL_INTERVAL: '1s',
          NODE_EXTRA_CA_CERTS: TEST_CA,
          NODE_OPTIONS: `--require ${HOSTS_PRELOAD}`,
        },
      },
    });
    try {
      const secrets: string[] = [];
      const token = stack.idp.mint();
      const granted = await stack.exchange(token, { role: 'deploy' });
      expect(granted.status).toBe(200);
      const issued = stack.sts.issued.at(-1)!;
      secrets.push(token, granted.body.revoke_token, issued.secretAccessKey, issued.sessionToken);
      const refusedToken = stack.idp.mint({ ref: 'refs/heads/dev', environment: 'staging' });
      secrets.push(refusedToken);
      expect((await stack.exchange(refusedToken, { role: 'deploy' })).status).toBe(403);
      const revoked = await stack.post('/v1/revoke', {
        lease_id: granted.body.lease_id,
        revoke_token: granted.body.revoke_token,
      });
      expect(revoked.status).toBeLessThan(300);

      const events = await eventually(
        () => (siem.acknowledged.length >= 3 ? siem.acknowledged : undefined),
        'three events at the SIEM',
        600,
      );
      const byActivity = events.map((e) => [e.class_uid, e.activity_name, e.status]);
      expect(byActivity).toEqual([
        [3002, 'Logon', 'Success'],
        [3002, 'Logon', 'Failure'],
        [3002, 'Logoff', 'Success'],
      ]);
      expect(events[0]).toMatchObject({ user: { name: 'acme/web' }, src_endpoint: { ip: '127.0.0.1' } });
      const uids = events.map((e) => (e.metadata as { uid: string }).uid);
      expect(new Set(uids).size).toBe(uids.length);
      expect(siem.answers[0]).toBe(503); // waited, then sent

      // Nothing further arrives from a second worker sending the same rows.
      await stack.exchange(stack.idp.mint(), { role: 'deploy' });
      await eventually(() => (siem.acknowledged.length >= 4 ? true : undefined), 'the fourth event', 600);
      const all = siem.acknowledged.map((e) => (e.metadata as { uid: string }).uid);
      expect(new Set(all).size).toBe(all.length);

      const sent = JSON.stringify(siem.acknowledged);
      for (const secret of secrets) expect(sent).not.toContain(secret);
      expect(stack.exchanger.output()).not.toContain(TOKEN);
    } finally {
      await stack.stop();
      await siem.stop();
    }
  });

  it('refuses to start with a bad export setting, saying what to write', () => {
    const run = spawnSync(process.execPath, [CLI, 'serve', '--policy', '/nonexistent.yaml'], {
      env: { ...process.env, JITKEY_EXPORT_TO: 'syslog://x' },
      encoding: 'utf8',
    });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(
      /JITKEY_EXPORT_…: JITKEY_EXPORT_TO 'syslog:\/\/x': write stdout, file:PATH or an https:\/\/ URL/,
    );
  });
});

describe('jitkey export on the command line', () => {
  it('prints every row to stdout once, then nothing more the second time', async () => {
    const path = join(dir, 'cli.db');
    const store = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 });
    for (let i = 0; i < 30; i++) await store.record(entry({ requestId: `r${i}` }));
    await store.close();
    const run = () =>
      spawnSync(process.execPath, [CLI, 'export', '--store', `sqlite:${path}`, '--format', 'cloudevents'], {
        encoding: 'utf8',
      });
    const first = run();
    expect(first.status).toBe(0);
    const lines = first.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; type: string });
    expect(lines.map((l) => l.id)).toEqual(Array.from({ length: 30 }, (_, i) => `audit-${i + 1}`));
    expect(lines.every((l) => l.type === 'jitkey.audit.exchange')).toBe(true);
    expect(first.stderr).toContain('jitkey export: 30 event(s) to stdout (cloudevents)');
    const second = run();
    expect(second.status).toBe(0);
    expect(second.stdout).toBe('');
  });

  it.each([
    [['--format', 'xml'], /unknown format 'xml': write ocsf or cloudevents/],
    [
      ['--to', 'https://siem.example.com/x', '--header-env', 'Authorization=UNSET_VAR'],
      /variable UNSET_VAR is not set/,
    ],
    [['--batch', '0'], /invalid --batch '0': write a whole number from 1 to 10000/],
  ])('refuses %j with exit 2, saying what to write', (args, message) => {
    const run = spawnSync(
      process.execPath,
      [CLI, 'export', '--store', `sqlite:${join(dir, 'x.db')}`, ...args],
      {
        encoding: 'utf8',
      },
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(message);
  });
});

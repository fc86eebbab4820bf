/**
 * Reloads put one policy content in every worker, read once by the primary, and a large policy
 * is loaded aside while requests go on being answered (issue 24, item 4). No timing is asserted:
 * the tests count what was answered while a reload was under way and which policy each worker
 * reports holding (`jitkey_policy_info{digest}`, summed over the workers).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ExchangerProcess, startExchanger } from '../support/exchanger-process.js';
import { largeOrgYaml, writeLargePolicyDir } from '../support/large-policy.js';
import { type OidcIssuer, startOidcIssuer } from '../support/oidc-issuer.js';
import { sendOnOwnConnection } from '../support/own-connection.js';
import { policyFor, ROLE_ARN, STS_KEY, type Stack, startStack, stsEnv } from '../support/stack.js';
import { type StsStandin, startStsStandin } from '../support/sts-standin.js';

/** One request on a connection of its own, so requests spread over the workers. */
const send = sendOnOwnConnection;

async function until(check: () => boolean, what: string, tries = 2400): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const count = (text: string, needle: string) => text.split(needle).length - 1;

/** Every `jitkey_policy_info` series of the summed `/metrics`: digest → value. */
async function policyInfo(url: string): Promise<Map<string, number>> {
  const text = (await send(url, 'GET', '/metrics')).text;
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^jitkey_policy_info\{digest="([0-9a-f]+)"\} (\S+)$/gm))
    out.set(m[1]!, Number(m[2]));
  return out;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('SIGHUP with --workers 4: one content in every worker', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it('a file replaced right after SIGHUP: every worker holds the same policy (one digest)', async () => {
    stack = await startStack({ exchanger: { args: ['--workers', '4'] } });
    const s = stack;
    const path = s.exchanger.policyPath;
    const start = await policyInfo(s.exchanger.url);
    expect(start).toEqual(new Map([[sha256(policyFor(s.idp.url)), 4]]));

    const a = policyFor(s.idp.url).replace('environment: production', 'environment: staging');
    const b = policyFor(s.idp.url).replace('environment: production', 'environment: dev');
    for (let round = 1; round <= 3; round++) {
      writeFileSync(path, a);
      s.exchanger.signal('SIGHUP');
      // The file keeps changing while the reload reads it.
      for (let i = 0; i < 6; i++) {
        writeFileSync(path, i % 2 ? a : b);
        await new Promise((r) => setTimeout(r, 2));
      }
      await until(() => count(s.exchanger.output(), '"msg":"policy reloaded"') === round, 'the reload');
      const info = await policyInfo(s.exchanger.url);
      expect(info.size).toBe(1);
      const [digest, workers] = [...info][0]!;
      expect(workers).toBe(4);
      expect([sha256(a), sha256(b)]).toContain(digest);
      const logged = [
        ...s.exchanger.output().matchAll(/"msg":"policy reloaded"[^\n]*"digest":"([0-9a-f]+)"/g),
      ];
      expect(logged.at(-1)?.[1]).toBe(digest);
      // And they decide alike: the environment of the version in force, on every worker.
      const env = digest === sha256(a) ? 'staging' : 'dev';
      const answers = await Promise.all(
        Array.from({ length: 8 }, () =>
          send(
            s.exchanger.url,
            'POST',
            '/v1/exchange',
            { role: 'deploy' },
            {
              authorization: `Bearer ${s.idp.mint({ environment: env })}`,
            },
          ),
        ),
      );
      expect(answers.map((x) => x.status)).toEqual(Array(8).fill(200));
    }
  }, 300_000);
});

describe('a 40,000-role, 6 MiB directory reloads while requests are answered', () => {
  let idp: OidcIssuer | undefined;
  let sts: StsStandin | undefined;
  let ex: ExchangerProcess | undefined;
  afterEach(async () => {
    await ex?.stop();
    await Promise.all([idp?.stop(), sts?.stop()]);
    ex = undefined;
  });

  it.each([1, 2])(
    '--workers %i',
    async (workers) => {
      idp = await startOidcIssuer();
      sts = await startStsStandin(STS_KEY);
      const dir = mkdtempSync(join(tmpdir(), 'jitkey-large-'));
      writeFileSync(join(dir, 'org.yaml'), largeOrgYaml(idp.url, ['web']));
      writeFileSync(
        join(dir, 'web.yaml'),
        `version: 1\nowners: [acme/web]\nroles:\n  deploy:\n    provider: aws\n    aws: { role_arn: "${ROLE_ARN}" }\n` +
          '    allow: [{ repository: acme/web, repository_id: "123456", ref: refs/heads/main }]\n',
      );
      ex = await startExchanger({ policyPath: dir, env: stsEnv(sts), args: ['--workers', String(workers)] });
      const e = ex;
      const bytes = writeLargePolicyDir(dir, { issuer: idp.url, otherTeams: ['web'] });
      expect(bytes).toBeGreaterThan(6 * 1024 * 1024);

      e.signal('SIGHUP');
      const done = () => /"msg":"policy reload(ed| refused)/.test(e.output());
      let health = 0;
      let exchanged = 0;
      for (let i = 0; !done(); i++) {
        const answer =
          i % 10 === 9
            ? await send(
                e.url,
                'POST',
                '/v1/exchange',
                { role: 'deploy' },
                { authorization: `Bearer ${idp.mint()}` },
              )
            : await send(e.url, 'GET', '/healthz');
        // Counted only when the reload was still under way once the answer was in.
        if (done()) break;
        if (answer.status === 200) i % 10 === 9 ? exchanged++ : health++;
      }
      expect(e.output()).toMatch(/"msg":"policy reloaded"[^\n]*"roles":40001/);
      // The reload took the time of parsing 6 MiB of YAML; requests were answered all along.
      expect(health).toBeGreaterThanOrEqual(20);
      expect(exchanged).toBeGreaterThanOrEqual(2);
      const info = await policyInfo(e.url);
      expect([...info.values()]).toEqual([workers]);
    },
    600_000,
  );
});

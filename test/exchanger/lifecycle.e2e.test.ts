/** The process lifecycle of `jitkey serve`: SIGHUP reloads, SIGTERM drains in-flight requests. */
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { policyFor, type Stack, startStack } from '../support/stack.js';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

/**
 * Polls until `check` holds. A bound, not a target: generous (the machine may be loaded; 5 s
 * was not always enough for a reload), and below the test timeout so the failure names `what`.
 */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 25_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('SIGHUP', () => {
  it('reloads a valid policy, and refuses an invalid one keeping the old policy in force', async () => {
    stack = await startStack();
    const s = stack;
    const staging = () => s.idp.mint({ environment: 'staging' });
    expect((await s.exchange(staging(), { role: 'deploy' })).status).toBe(403);

    writeFileSync(
      s.exchanger.policyPath,
      policyFor(s.idp.url).replace('environment: production', 'environment: staging'),
    );
    s.exchanger.signal('SIGHUP');
    await until(() => s.exchanger.output().includes('policy reloaded'), 'the reload');
    expect((await s.exchange(staging(), { role: 'deploy' })).status).toBe(200);

    writeFileSync(s.exchanger.policyPath, 'version: 1\nroles:\n  broken: { provider: aws }\n');
    s.exchanger.signal('SIGHUP');
    await until(() => s.exchanger.output().includes('policy reload refused'), 'the refusal');
    expect(s.exchanger.output()).toMatch(/policy reload refused[^\n]*policy\.yaml:\d+:\d+/);
    expect((await s.exchange(staging(), { role: 'deploy' })).status).toBe(200);
    const metrics = await (await fetch(`${s.exchanger.url}/metrics`)).text();
    expect(metrics).toContain('jitkey_policy_reloads_total{outcome="ok"} 1');
    expect(metrics).toContain('jitkey_policy_reloads_total{outcome="invalid"} 1');
  });
});

describe('SIGTERM', () => {
  it('lets an in-flight exchange finish, then exits 0', async () => {
    stack = await startStack();
    const s = stack;
    expect((await s.exchange(s.idp.mint(), { role: 'deploy' })).status).toBe(200); // warm up
    s.sts.setDelay(800);
    const inFlight = s.exchange(s.idp.mint(), { role: 'deploy' });
    await until(() => s.sts.requests.length === 2, 'the STS call to start');
    s.exchanger.signal('SIGTERM');
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.body.credentials.access_key_id).toBe(s.sts.issued.at(-1)!.accessKeyId);
    expect(await s.exchanger.exited).toBe(0);
    expect(s.exchanger.output()).toContain('"msg":"stopped"');
  });
});

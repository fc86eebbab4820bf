/**
 * `jitkey serve` as a real process, driven over HTTP: the exchange and revoke contract of
 * reference.md §3 (HTTP API) for the AWS provider, end to end through the real AWS SDK and the STS stand-in.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/exchanger-process.js';
import { ROLE_ARN, type Stack, startStack, UNTRUSTED_ROLE_ARN } from '../support/stack.js';

let stack: Stack;
const secrets: string[] = [];

beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

async function audit(...args: string[]) {
  const out = await runCli(['audit', '--store', stack.exchanger.store, '--json', ...args]);
  expect(out.code).toBe(0);
  return out.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe('POST /v1/exchange', () => {
  it('grants the role: credentials are exactly what STS issued, with the fields reference.md §3 names', async () => {
    const token = stack.idp.mint({ run_id: '4242', run_attempt: '2', actor: 'octo cat!' });
    secrets.push(token);
    const res = await stack.exchange(token, { role: 'deploy', duration_seconds: 1200 });
    expect(res.status).toBe(200);
    const issued = stack.sts.issued.at(-1)!;
    secrets.push(res.body.revoke_token, issued.secretAccessKey, issued.sessionToken);
    expect(res.body).toEqual({
      lease_id: expect.stringMatching(/^lease_/),
      revoke_token: expect.any(String),
      role: 'deploy',
      provider: 'aws',
      expires_at: new Date(issued.expiration).toISOString(),
      credentials: {
        access_key_id: issued.accessKeyId,
        secret_access_key: issued.secretAccessKey,
        session_token: issued.sessionToken,
        expiration: new Date(issued.expiration).toISOString(),
        region: 'us-east-1',
      },
    });
    const call = stack.sts.requests.at(-1)!;
    expect(call.params).toMatchObject({
      Action: 'AssumeRole',
      RoleArn: ROLE_ARN,
      DurationSeconds: '1200',
      RoleSessionName: 'jitkey-4242-2',
      'Tags.member.1.Key': 'repository',
      'Tags.member.1.Value': 'acme/web',
      'Tags.member.2.Key': 'run',
      'Tags.member.2.Value': '4242',
    });
    expect(call.params.SourceIdentity).toMatch(/^octo/);
  });

  it('refuses the same token a second time (token_replayed)', async () => {
    const token = stack.idp.mint();
    expect((await stack.exchange(token, { role: 'deploy' })).status).toBe(200);
    const again = await stack.exchange(token, { role: 'deploy' });
    expect(again.status).toBe(401);
    expect(again.body).toMatchObject({ error: 'token_replayed', request_id: expect.stringMatching(/^req_/) });
    const [row] = (await audit('--outcome', 'denied')).filter((r) => r.request_id === again.body.request_id);
    expect(row).toMatchObject({ error_code: 'token_replayed' });
    expect(JSON.stringify(row)).toContain('acme/web');
  });

  it('lets exactly one of 20 concurrent requests with one token succeed', async () => {
    const token = stack.idp.mint();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => stack.exchange(token, { role: 'deploy' })),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(answers.filter((a) => a.body?.error === 'token_replayed')).toHaveLength(19);
  });

  it('denies with the role and each failed condition, showing the token value but never the policy value', async () => {
    const res = await stack.exchange(stack.idp.mint({ ref: 'refs/heads/dev', environment: 'staging' }), {
      role: 'deploy',
    });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('access_denied');
    expect(res.body.message).toContain("'deploy'");
    expect(res.body.message).toContain('refs/heads/dev');
    expect(res.body.message).toContain('staging');
    expect(res.body.message).not.toContain('refs/heads/main');
    expect(res.body.message).not.toContain('production');
  });

  it('denies when a deny rule holds, even though an allow rule holds too', async () => {
    const res = await stack.exchange(stack.idp.mint({ event_name: 'pull_request_target' }), {
      role: 'deploy',
    });
    expect(res.status).toBe(403);
    expect(res.body.message).toMatch(/deny\[0\].*event_name.*pull_request_target/);
  });

  it.each([
    ['an unknown role', { role: 'nope' }, /unknown role 'nope'/],
    [
      'a duration over the role max',
      { role: 'deploy', duration_seconds: 3600 },
      /exceeds role 'deploy' max_duration 30m/,
    ],
    ['a duration below the 60 s AWS floor', { role: 'deploy', duration_seconds: 59 }, /at least 60 s/],
    ['no role', {}, /'role' is required/],
    ['an unknown field', { role: 'deploy', duration: '15m' }, /unknown field 'duration'/],
    ['a fractional duration', { role: 'deploy', duration_seconds: 900.5 }, /positive whole number/],
  ])('answers 400 invalid_request for %s', async (_name, body, message) => {
    const res = await stack.exchange(stack.idp.mint(), body);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.message).toMatch(message);
  });

  it('answers 400 for a body that is not JSON, and for one over 16 KiB', async () => {
    const bad = await stack.exchange(stack.idp.mint(), '{"role":');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_request');
    const big = await stack.exchange(stack.idp.mint(), { role: 'deploy', pad: 'x'.repeat(17 * 1024) });
    expect(big.status).toBe(400);
    expect(big.body.message).toMatch(/16 KiB/);
  });

  it('answers 401 invalid_token without a bearer token', async () => {
    const res = await stack.exchange(undefined, { role: 'deploy' });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_token');
    expect(res.body.message).toMatch(/Authorization: Bearer/);
  });

  it('maps an STS refusal to 502 upstream_error naming the STS code, without retrying it', async () => {
    stack.sts.denyRole(UNTRUSTED_ROLE_ARN);
    const before = stack.sts.requests.length;
    const res = await stack.exchange(stack.idp.mint(), { role: 'untrusted' });
    expect(res.status).toBe(502);
    expect(res.body.error).toBe('upstream_error');
    expect(res.body.message).toContain('AccessDenied');
    expect(stack.sts.requests.length - before).toBe(1);
  });
});

describe('POST /v1/revoke', () => {
  it('revokes a lease with its revoke_token, once, and audits it', async () => {
    const grant = (await stack.exchange(stack.idp.mint(), { role: 'deploy' })).body;
    secrets.push(grant.revoke_token);
    const wrong = await stack.post('/v1/revoke', { lease_id: grant.lease_id, revoke_token: 'x'.repeat(43) });
    const unknown = await stack.post('/v1/revoke', {
      lease_id: 'lease_nope',
      revoke_token: grant.revoke_token,
    });
    expect(wrong.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(wrong.body.message).toBe(unknown.body.message);
    expect(
      (await stack.post('/v1/revoke', { lease_id: grant.lease_id, revoke_token: grant.revoke_token })).status,
    ).toBe(204);
    expect(
      (await stack.post('/v1/revoke', { lease_id: grant.lease_id, revoke_token: grant.revoke_token })).status,
    ).toBe(204);
    const rows = (await audit()).filter((r) => r.leaseId === grant.lease_id || r.lease_id === grant.lease_id);
    expect(rows.map((r) => r.outcome).sort()).toEqual(['allowed', 'revoked']);
  });

  it('refuses a malformed revoke body with 400', async () => {
    const res = await stack.post('/v1/revoke', { lease_id: 'lease_x' });
    expect(res.status).toBe(400);
  });
});

describe('audit trail', () => {
  it('has a row for every decision, allowed and denied, with the identifying claims', async () => {
    const token = stack.idp.mint({ ref: 'refs/heads/feature', run_id: '777001' });
    await stack.exchange(token, { role: 'deploy' });
    const [row] = await audit('--outcome', 'denied', '--repository', 'acme/web');
    expect(row).toMatchObject({ outcome: 'denied', role: 'deploy' });
    expect(JSON.stringify(row)).toContain('777001');
    expect(JSON.stringify(row)).toContain('access_denied');
    const allowed = await audit('--outcome', 'allowed');
    expect(allowed.length).toBeGreaterThanOrEqual(3);
  });
});

describe('operations', () => {
  it('serves /healthz, /readyz and Prometheus /metrics', async () => {
    expect((await fetch(`${stack.exchanger.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${stack.exchanger.url}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${stack.exchanger.url}/metrics`)).text();
    expect(metrics).toMatch(/jitkey_decisions_total\{role="deploy",outcome="allowed",code=""\} [1-9]/);
    expect(metrics).toMatch(
      /jitkey_decisions_total\{role="deploy",outcome="denied",code="access_denied"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /jitkey_upstream_request_seconds_bucket\{le="0.5",provider="aws",outcome="ok"\} [1-9]/,
    );
    // Once per exchange: as many observations as STS issued credentials.
    const count = /jitkey_upstream_request_seconds_count\{provider="aws",outcome="ok"\} (\d+)/.exec(metrics);
    expect(Number(count?.[1])).toBe(stack.sts.issued.length);
  });

  it('answers 404 with the error shape for an unknown route', async () => {
    const res = await stack.post('/v2/nothing', {});
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: 'not_found', request_id: expect.any(String) });
  });

  it('never writes a token, secret access key, session token or revoke token to its store or its logs', async () => {
    expect(secrets.length).toBeGreaterThanOrEqual(5);
    const db = [stack.exchanger.storePath!, `${stack.exchanger.storePath}-wal`]
      .map((f) => {
        try {
          return readFileSync(f).toString('latin1');
        } catch {
          return '';
        }
      })
      .join('');
    expect(db.length).toBeGreaterThan(0);
    const logs = stack.exchanger.output();
    for (const secret of secrets) {
      expect(db.includes(secret)).toBe(false);
      expect(logs.includes(secret)).toBe(false);
    }
    for (const issued of stack.sts.issued) {
      expect(db.includes(issued.secretAccessKey)).toBe(false);
      expect(logs.includes(issued.sessionToken)).toBe(false);
    }
  });
});

/**
 * The agent's renewal loop on its edges, with its clock and timers in hand and a scripted exchanger
 * behind `send` (the real exchanger is in e2e-refresh.test.ts): when it renews, what stops it for
 * good, what it retries, and what it revokes when stopped.
 */
import { describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../src/agent/config.js';
import { startRenewer } from '../../src/agent/renewer.js';
import type { Deps } from '../../src/client/deps.js';
import type { Lease } from '../../src/shared/api.js';

const T0 = Date.parse('2026-03-01T12:00:00Z');

function lease(id: string, endsAt: number): Lease {
  return {
    leaseId: id,
    revokeToken: `rt-${id}`,
    role: 'deploy',
    expiresAt: new Date(endsAt).toISOString(),
    provider: 'aws',
    credentials: { access_key_id: `AK${id}`, secret_access_key: 's', session_token: 't', expiration: '' },
  };
}

const grant = (id: string, endsAt: number) => ({
  status: 200,
  body: {
    lease_id: id,
    revoke_token: `rt-${id}`,
    role: 'deploy',
    provider: 'aws',
    expires_at: new Date(endsAt).toISOString(),
    credentials: { access_key_id: `AK${id}`, secret_access_key: 's', session_token: 't' },
  },
});

function harness(answers: Array<{ status: number; body: unknown }>) {
  let now = T0;
  const timers: Array<{ at: number; fn: () => void }> = [];
  const calls: string[] = [];
  const json = (status: number, body: unknown) => ({
    status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const send: Deps['send'] = async (req) => {
    const path = req.url.pathname;
    calls.push(`${req.method} ${path}`);
    if (path === '/token') return json(200, { value: 'oidc' });
    if (path === '/v1/revoke') return { status: 204, headers: {}, body: '' };
    const next = answers.shift() ?? { status: 500, body: {} };
    return json(next.status, next.body);
  };
  const deps: Deps = {
    core: { setSecret: () => {} } as unknown as Deps['core'],
    send,
    env: {},
    now: () => now,
    sleep: async () => {},
    random: () => 0,
  };
  const config: AgentConfig = {
    exchangerUrl: 'http://127.0.0.1:1/',
    role: 'deploy',
    audience: 'jitkey',
    retries: 0,
    tokenRequestUrl: 'http://127.0.0.1:1/token',
    tokenRequestToken: 'rt',
    bearer: 'b',
    lease: lease('first', T0 + 60_000),
  };
  const ended: string[] = [];
  const renewer = startRenewer(
    config,
    deps,
    {
      setTimeout: (fn, ms) => timers.push({ at: now + ms, fn }),
      clearTimeout: () => {
        timers.length = 0;
      },
    },
    (reason) => ended.push(reason),
  );
  /** Moves the clock to the next timer and runs it. */
  const tick = async () => {
    timers.sort((a, b) => a.at - b.at);
    const t = timers.shift();
    if (!t) throw new Error('no timer');
    now = t.at;
    t.fn();
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  return { renewer, tick, calls, timers, ended, setNow: (t: number) => (now = t), now: () => now };
}

describe('the renewal loop', () => {
  it('renews at two thirds of each lease, with a fresh OIDC token each time', async () => {
    const h = harness([grant('second', T0 + 100_000), grant('third', T0 + 200_000)]);
    expect(h.timers[0]!.at).toBe(T0 + 40_000);
    await h.tick();
    expect(h.renewer.current()).toMatchObject({ lease: { leaseId: 'second' } });
    // 60 s left of the second lease from now (T0+40 s): renew 40 s later.
    expect(h.timers[0]!.at).toBe(T0 + 80_000);
    await h.tick();
    expect(h.renewer.status()).toMatchObject({ leaseId: 'third', renewals: 2 });
    expect(h.calls.filter((c) => c === 'GET /token')).toHaveLength(2);
  });

  it('stops for good on a refusal, keeps the lease until its end, then says why', async () => {
    const h = harness([
      { status: 403, body: { error: 'run_completed', message: 'run 1 attempt 1 has completed' } },
    ]);
    await h.tick();
    // No renewal is scheduled: the one timer left is the lease's end.
    expect(h.timers.map((t) => t.at)).toEqual([T0 + 60_000]);
    expect(h.renewer.current()).toMatchObject({ lease: { leaseId: 'first' } });
    h.setNow(T0 + 60_000);
    const after = h.renewer.current();
    expect('reason' in after && after.reason).toMatch(
      /lease for role 'deploy' ended at .* and the exchanger refused the renewal: run_completed: run 1 attempt 1 has completed/,
    );
  });

  it('once max_duration is used up, tells the agent to end at the last lease end, not before', async () => {
    const h = harness([
      {
        status: 403,
        body: {
          error: 'access_denied',
          message: "role 'deploy': this run attempt has had its max_duration (1h) since its first lease",
        },
      },
    ]);
    await h.tick(); // the renewal at 40 s, refused
    expect(h.ended).toEqual([]);
    await h.tick(); // the lease's end
    expect(h.now()).toBe(T0 + 60_000);
    expect(h.ended).toEqual([
      "the exchanger refused the renewal: access_denied: role 'deploy': this run attempt has had its max_duration (1h) since its first lease",
    ]);
  });

  it('ends the agent when renewals failed until the lease ended', async () => {
    const down = { status: 503, body: { error: 'unavailable', message: 'store down' } };
    const h = harness([down, down, down, down, down, down, down, down, down, down]);
    while (h.ended.length === 0 && h.timers.length > 0) await h.tick();
    expect(h.ended).toHaveLength(1);
    expect(h.ended[0]).toMatch(/^renewal failed until the lease ended: /);
    expect(h.now()).toBeGreaterThanOrEqual(T0 + 60_000);
  });

  it('stop() revokes once when asked twice (a shutdown request and SIGTERM)', async () => {
    const h = harness([grant('second', T0 + 100_000)]);
    await h.tick();
    const [a, b] = await Promise.all([h.renewer.stop(), h.renewer.stop()]);
    expect(a).toEqual({ revoked: ['second'], failed: [] });
    expect(b).toBe(a);
    expect(h.calls.filter((c) => c === 'POST /v1/revoke')).toHaveLength(1);
    expect(h.ended).toEqual([]);
  });

  it('retries a 503 sooner as the lease runs out, and gives up when it ends', async () => {
    const h = harness([
      { status: 503, body: { error: 'unavailable', message: 'store down' } },
      { status: 503, body: { error: 'unavailable', message: 'store down' } },
      grant('second', T0 + 120_000),
    ]);
    await h.tick(); // at 40 s: 20 s left → retry in 5 s
    expect(h.timers[0]!.at).toBe(T0 + 45_000);
    await h.tick();
    await h.tick();
    expect(h.renewer.status()).toMatchObject({ leaseId: 'second', renewals: 1 });
    expect(h.renewer.status().lastError).toBeUndefined();
  });

  it('a lease ending past the timer limit renews at the limit, not at once and again', async () => {
    const h = harness([grant('far', T0 + 100 * 24 * 3600_000), grant('next', T0 + 200 * 24 * 3600_000)]);
    await h.tick();
    expect(h.renewer.status()).toMatchObject({ leaseId: 'far', renewals: 1 });
    // Node would fire a longer delay at once (1 ms): one renewal after another.
    expect(h.timers.map((t) => t.at - h.now())).toEqual([2 ** 31 - 1]);
  });

  it('a role that answers 202 (approval each time) stops renewal', async () => {
    const h = harness([
      {
        status: 202,
        body: {
          status: 'pending',
          request_id: 'r',
          poll_token: 'p',
          expires_at: '',
          approvers: [],
          required: 1,
        },
      },
    ]);
    await h.tick();
    expect(h.renewer.status().stopped).toMatch(/needs a human approval for each use/);
  });

  it('stop() revokes every lease the agent obtained, not the first (the post step revokes that one)', async () => {
    const h = harness([grant('second', T0 + 100_000), grant('third', T0 + 200_000)]);
    await h.tick();
    await h.tick();
    const result = await h.renewer.stop();
    expect(result).toEqual({ revoked: ['second', 'third'], failed: [] });
    expect(h.calls.filter((c) => c === 'POST /v1/revoke')).toHaveLength(2);
    expect(h.timers).toHaveLength(0);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { clock } from '../../src/main/approval.js';
import { run } from '../../src/main/run.js';
import { startTokenEndpoint, type TokenEndpoint } from '../support/token-endpoint.js';
import {
  AWS_LEASE,
  type FakeServer,
  fakeCore,
  fakeDeps,
  fakeJwt,
  type Reply,
  startFakeServer,
} from './fakes.js';

const PENDING = {
  status: 'pending',
  request_id: 'req_ap1',
  poll_token: 'pt_s3cr3t_poll_token',
  expires_at: '2030-01-01T00:30:00Z',
  approvers: ['alice', 'acme/release-managers'],
  required: 1,
};

let server: FakeServer | undefined;
let tokens: TokenEndpoint | undefined;
afterEach(async () => {
  await server?.stop();
  await tokens?.stop();
  server = tokens = undefined;
});

/**
 * An exchanger for a role with `approval`: 202 on exchange, then `statuses` one per poll (the last
 * repeats), and a lease on redeem.
 */
async function approvalRun(statuses: Reply[], inputs: Record<string, string> = {}, redeemReply?: Reply) {
  let polls = 0;
  server = await startFakeServer((req) => {
    if (req.method === 'POST' && req.path === '/v1/exchange') return { status: 202, body: PENDING };
    if (req.method === 'GET' && req.path === '/v1/requests/req_ap1') {
      return statuses[Math.min(polls++, statuses.length - 1)]!;
    }
    if (req.method === 'POST' && req.path === '/v1/requests/req_ap1/redeem') {
      return redeemReply ?? { status: 200, body: AWS_LEASE };
    }
    return { status: 404, body: { error: 'not_found', message: req.path } };
  });
  tokens = await startTokenEndpoint({
    token: (aud) => fakeJwt({ aud, repository: 'acme/web', run_id: '42' }),
  });
  const fc = fakeCore({ 'exchanger-url': server.url, role: 'deploy-web-prod', ...inputs });
  const deps = fakeDeps(fc, { ...tokens.env, GITHUB_REPOSITORY: 'acme/web' });
  const timed: Array<{ t: number; message: string }> = [];
  const info = fc.core.info;
  fc.core.info = (m) => {
    timed.push({ t: deps.clock.t, message: m });
    info(m);
  };
  const start = deps.clock.t;
  await run(deps);
  return { fc, deps, timed, start, polls: () => server!.requests.filter((r) => r.method === 'GET') };
}

const status = (s: string, extra: Record<string, unknown> = {}): Reply => ({
  status: 200,
  body: { status: s, approvals: [], ...extra },
});

describe('approvals', () => {
  it('prints who can approve and the command, polls with the poll token, redeems with a fresh token', async () => {
    const approved = status('approved', { approvals: [{ login: 'alice', at: '2030-01-01T00:01:00Z' }] });
    const { fc, timed, polls } = await approvalRun([status('pending'), status('pending'), approved]);
    expect(fc.failed).toEqual([]);
    const lines = timed.map((l) => l.message);
    expect(lines).toContain(
      "Role 'deploy-web-prod' needs approval: 1 of alice, acme/release-managers must approve request req_ap1.",
    );
    expect(lines).toContain(`An approver runs:  jitkey approve req_ap1 --url ${server!.url}`);
    expect(lines).toContain('Request req_ap1 approved by alice.');

    expect(polls()).toHaveLength(3);
    for (const p of polls()) expect(p.headers.authorization).toBe(`Bearer ${PENDING.poll_token}`);

    const [exchangeReq, redeemReq] = server!.requests.filter((r) => r.method === 'POST');
    expect(redeemReq!.path).toBe('/v1/requests/req_ap1/redeem');
    expect(redeemReq!.json).toEqual({ poll_token: PENDING.poll_token });
    expect(tokens!.issued).toHaveLength(2);
    expect(exchangeReq!.headers.authorization).toBe(`Bearer ${tokens!.issued[0]}`);
    expect(redeemReq!.headers.authorization).toBe(`Bearer ${tokens!.issued[1]}`);
    expect(tokens!.issued[1]).not.toBe(tokens!.issued[0]);

    // The redeemed lease is handled exactly like an exchange.
    expect(fc.exported.AWS_SECRET_ACCESS_KEY).toBe(AWS_LEASE.credentials.secret_access_key);
    expect(fc.state.lease_id).toBe(AWS_LEASE.lease_id);
    const summary = fc.summary.join('');
    expect(summary).toContain('| Approvers | alice, acme/release-managers (1 required) |');
    expect(summary).toContain('| Approved by | alice at 2030-01-01T00:01:00Z |');
    expect(summary).not.toContain(PENDING.poll_token);
  });

  it('backs off between polls and prints progress at most every 30 s', async () => {
    const { timed, deps, start, polls } = await approvalRun([
      ...Array(40).fill(status('pending')),
      status('approved'),
    ]);
    expect(polls()).toHaveLength(41);
    expect(deps.sleeps.slice(0, 4)).toEqual([1500, 2250, 3375, 5063]);
    expect(Math.max(...deps.sleeps)).toBe(11_250); // 15 s cap, jittered
    const progress = timed.filter((l) => l.message.startsWith('Waiting for approval of request req_ap1:'));
    expect(progress.length).toBeGreaterThan(5);
    const times = [start, ...progress.map((p) => p.t)];
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(30_000);
    expect(progress[0]!.message).toMatch(/: \d+s elapsed of 30m$/);
  });

  it('keeps polling through an exchanger that is briefly down', async () => {
    const { fc, polls } = await approvalRun([
      { status: 503 },
      { status: 0, destroy: true },
      { status: 429, headers: { 'retry-after': '20' } },
      status('approved'),
    ]);
    expect(fc.failed).toEqual([]);
    expect(polls()).toHaveLength(4);
  });

  it('fails with the approver’s reason when denied', async () => {
    const { fc } = await approvalRun([
      status('pending'),
      status('denied', { reason: 'not during the freeze' }),
    ]);
    expect(fc.failed).toEqual([
      "Approval for role 'deploy-web-prod' was denied (request req_ap1): not during the freeze",
    ]);
    expect(server!.requests.some((r) => r.path.endsWith('/redeem'))).toBe(false);
    expect(fc.exported).toEqual({});
  });

  it("fails when the request expires on the exchanger, with the exchanger's reason", async () => {
    const reason =
      'nobody approved it within its 30m timeout (0 of 1 approvals); it could have been approved by alice';
    const { fc } = await approvalRun([status('expired', { reason })]);
    const message = `Approval request req_ap1 for role 'deploy-web-prod' expired on the exchanger: ${reason}. Re-run the job to ask again.`;
    expect(fc.failed).toEqual([message]);
    // The job summary says why too.
    expect(fc.summary.join('')).toContain(`> ${message}\n`);
  });

  it('says the request expired unanswered when an older exchanger gives no reason', async () => {
    const { fc } = await approvalRun([status('expired')]);
    expect(fc.failed).toEqual([
      "Approval request req_ap1 for role 'deploy-web-prod' expired on the exchanger: no one approved it in time. Re-run the job to ask again.",
    ]);
  });

  it('fails at approval-timeout with a clear message', async () => {
    const { fc, deps, start, polls } = await approvalRun([status('pending')], { 'approval-timeout': '2m' });
    expect(fc.failed[0]).toBe(
      "No approval for role 'deploy-web-prod' within approval-timeout (2m); request req_ap1 is still pending. Ask an approver (alice, acme/release-managers) and re-run the job, or raise approval-timeout.",
    );
    expect(deps.clock.t - start).toBe(120_000); // the last sleep stops at the deadline, and one last poll
    expect(polls().length).toBeGreaterThan(5);
  });

  it('fails when the poll token is refused', async () => {
    const { fc } = await approvalRun([
      { status: 401, body: { error: 'invalid_token', message: 'bad poll token', request_id: 'req_p' } },
    ]);
    expect(fc.failed[0]).toContain('bad poll token');
    expect(fc.failed[0]).toContain('req_p');
  });

  it('reports a redeem refused with 409', async () => {
    const { fc } = await approvalRun(
      [status('approved')],
      {},
      {
        status: 409,
        body: {
          error: 'already_redeemed',
          message: 'request req_ap1 was already redeemed',
          request_id: 'req_r',
        },
      },
    );
    expect(fc.failed[0]).toContain('409 already_redeemed');
    expect(fc.failed[0]).toContain('req_r');
  });

  it('formats elapsed time', () => {
    expect([0, 5_000, 95_000, 1_800_000, 3_725_000].map(clock)).toEqual([
      '0s',
      '5s',
      '1m35s',
      '30m',
      '1h2m5s',
    ]);
  });
});

/** The per-peer folding of refusals of unverified tokens (issue 16, item 2): exact counts. */
import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../exchanger/errors.js';
import { auditsRefusal, createRefusalFold } from '../../exchanger/exchange/refusal-fold.js';

function fold() {
  let t = 1_000_000;
  let n = 0;
  const f = createRefusalFold({ now: () => new Date(t), windowMs: 60_000, requestId: () => `req_${++n}` });
  return { f, advance: (ms: number) => (t += ms) };
}

describe('refusal fold', () => {
  it('admits the first refusal of each peer per window and counts the rest exactly', () => {
    const { f, advance } = fold();
    expect(f.admit('10.0.0.1')).toBe(true);
    expect(f.admit('10.0.0.2')).toBe(true);
    for (let i = 0; i < 41; i++) expect(f.admit('10.0.0.1')).toBe(false);
    expect(f.due()).toEqual([]);
    advance(60_000);
    const rows = f.due();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.reason).toMatch(
      /^41 more refused requests with an unverified token from 10\.0\.0\.1 in 60 s/,
    );
    expect(rows[0]).toMatchObject({
      event: 'exchange',
      outcome: 'denied',
      errorCode: 'invalid_token',
      claims: {},
    });
    expect(f.due()).toEqual([]);
    expect(f.admit('10.0.0.1')).toBe(true);
  });

  it('keeps the count of a window that ended when the peer comes back before it was drained', () => {
    const { f, advance } = fold();
    f.admit('p');
    f.admit('p');
    advance(61_000);
    expect(f.admit('p')).toBe(true);
    expect(f.due().map((r) => r.reason)).toEqual([expect.stringMatching(/^1 more refused request with/)]);
  });

  it('reports windows still open when asked for all (shutdown)', () => {
    const { f } = fold();
    f.admit('p');
    f.admit('p');
    f.admit('p');
    expect(f.due(true).map((r) => r.reason)).toEqual([expect.stringMatching(/^2 more /)]);
  });

  it('keeps exchanges, redemptions and webhooks apart: each has its own row and its own count', () => {
    const { f } = fold();
    expect(f.admit('p', 'exchange')).toBe(true);
    expect(f.admit('p', 'redeem')).toBe(true);
    expect(f.admit('p', 'redeem')).toBe(false);
    expect(f.admit('p')).toBe(false);
    expect(f.admit('p', 'redeem')).toBe(false);
    expect(f.admit('p', 'webhook')).toBe(true);
    expect(f.admit('p', 'webhook')).toBe(false);
    expect(f.due(true).map((r) => [r.event, r.reason.replace(/ from .*/, '')])).toEqual([
      ['exchange', '1 more refused request with an unverified token'],
      ['redeem', '2 more refused requests with an unverified token'],
      ['webhook', '1 more refused request with a wrong webhook signature'],
    ]);
  });

  it('folds replays by token, wherever they come from', () => {
    const { f } = fold();
    const spent = { iss: 'https://token.actions.githubusercontent.com', jti: 'j-1', repository: 'acme/web' };
    const replay = (peer: string, claims = spent) =>
      auditsRefusal(f, { peer, event: 'exchange', claims, code: 'token_replayed' });
    expect(replay('10.0.0.1')).toBe(true);
    expect(replay('10.0.0.2')).toBe(false);
    expect(replay('10.0.0.3')).toBe(false);
    expect(replay('10.0.0.1', { ...spent, jti: 'j-2' })).toBe(true);
    expect(auditsRefusal(undefined, { peer: 'p', event: 'exchange' })).toBe(true);
    expect(f.due(true)).toEqual([
      expect.objectContaining({
        event: 'exchange',
        errorCode: 'token_replayed',
        reason: expect.stringMatching(
          /^2 more refused requests replaying the token with jti 'j-1' of 'https:\/\/token\.actions\.githubusercontent\.com' in 60 s/,
        ),
      }),
    ]);
  });

  it('tells apart the replays of tokens without a jti (Buildkite, CircleCI) by their claims', () => {
    const { f } = fold();
    const buildkite = (job: string) => ({
      iss: 'https://agent.buildkite.com',
      sub: 'organization:acme',
      job_id: job,
    });
    const replay = (claims: Record<string, string>) =>
      auditsRefusal(f, { peer: '10.0.0.1', event: 'exchange', claims, code: 'token_replayed' });
    expect(replay(buildkite('attacker'))).toBe(true);
    expect(replay(buildkite('attacker'))).toBe(false);
    // Another job's token replayed in the same minute still gets its own row.
    expect(replay(buildkite('victim'))).toBe(true);
  });

  it('folds other refusals of verified tokens by job and role; never errors of ours', () => {
    const { f } = fold();
    const job = (runId: string) => ({
      iss: 'https://token.actions.githubusercontent.com',
      repository_id: '666',
      run_id: runId,
      run_attempt: '1',
    });
    const refuse = (claims: Record<string, string>, role = 'deploy', code: ErrorCode = 'access_denied') =>
      auditsRefusal(f, { peer: '10.0.0.1', event: 'exchange', claims, code, role });
    expect(refuse(job('1'))).toBe(true);
    for (let i = 0; i < 5; i++) expect(refuse(job('1'))).toBe(false);
    expect(refuse(job('1'), 'other')).toBe(true);
    expect(refuse(job('2'))).toBe(true);
    expect(refuse(job('1'), 'deploy', 'run_completed')).toBe(true);
    // A job with no run is known by its sub.
    expect(refuse({ iss: 'https://x.example', sub: 'project:a' })).toBe(true);
    expect(refuse({ iss: 'https://x.example', sub: 'project:a' })).toBe(false);
    for (let i = 0; i < 3; i++) expect(refuse(job('1'), 'deploy', 'upstream_error')).toBe(true);
    expect(f.due(true).map((r) => [r.errorCode, r.reason.replace(/ in 60 s.*/, '')])).toEqual([
      [
        'access_denied',
        "5 more refused requests (access_denied) of run 1 attempt 1 of 666 of 'https://token.actions.githubusercontent.com' for role 'deploy'",
      ],
      [
        'access_denied',
        "1 more refused request (access_denied) of sub 'project:a' of 'https://x.example' for role 'deploy'",
      ],
    ]);
  });
});

describe('a flood of one kind of refusal does not hide another', () => {
  it('a verified job’s refusal keeps its own row while unverified callers fill their subjects', () => {
    const { f } = fold();
    for (let i = 0; i < 10_000; i++)
      auditsRefusal(f, { peer: `2001:db8:${i.toString(16)}::1`, event: 'exchange' });
    // The next unverified caller shares the overflow bucket...
    expect(auditsRefusal(f, { peer: '2001:db9::1', event: 'exchange' })).toBe(true);
    expect(auditsRefusal(f, { peer: '2001:db9:1::1', event: 'exchange' })).toBe(false);
    // ...but a job's refusal is still its own row, and each job's.
    const job = (runId: string) => ({
      iss: 'https://token.actions.githubusercontent.com',
      repository_id: '1',
      run_id: runId,
      run_attempt: '1',
    });
    const refuse = (runId: string) =>
      auditsRefusal(f, {
        peer: '10.0.0.1',
        event: 'exchange',
        claims: job(runId),
        code: 'access_denied',
        role: 'deploy',
      });
    expect([refuse('1'), refuse('2'), refuse('1')]).toEqual([true, true, false]);
  });

  it('once the jobs’ subjects are full, a new job’s refusal is audited, not folded', () => {
    const { f } = fold();
    for (let i = 0; i < 10_000; i++) f.admit(`job ${i}`, 'exchange', 'access_denied');
    expect(f.admit('job new', 'exchange', 'access_denied')).toBe(true);
    expect(f.admit('job new', 'exchange', 'access_denied')).toBe(true);
    expect(f.admit('job 1', 'exchange', 'access_denied')).toBe(false);
  });
});

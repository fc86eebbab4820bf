/** Issue 16, item 10: approver identities cached briefly, and approver calls budgeted per address. */
import { describe, expect, it } from 'vitest';
import type { ApproverDirectory } from '../../exchanger/approvals/approvers.js';
import { callerBudget } from '../../exchanger/approvals/caller-budget.js';
import { cachedDirectory } from '../../exchanger/approvals/identity-cache.js';
import { JitkeyError } from '../../exchanger/errors.js';

function upstream() {
  const calls: string[] = [];
  let down = false;
  const dir: ApproverDirectory = {
    async getUser(token) {
      calls.push(`user:${token}`);
      if (down) throw new JitkeyError('upstream_error', 'GitHub answered 503');
      if (token === 'gho_alice') return { login: 'alice', id: 1001 };
      throw new JitkeyError('invalid_token', 'GitHub did not accept this GitHub token (401)');
    },
    async isTeamMember(org, slug, login) {
      calls.push(`team:${org}/${slug}:${login}`);
      return login === 'carol';
    },
    async getRunAttempt() {
      return { triggeringActorId: '1' };
    },
  };
  return { dir, calls, setDown: (d: boolean) => (down = d) };
}

describe('identity cache', () => {
  it('asks GitHub once per token per minute, for a known and for a junk token', async () => {
    let t = 0;
    const { dir, calls } = upstream();
    const cached = cachedDirectory(dir, { now: () => new Date(t) });
    expect(await cached.getUser('gho_alice')).toEqual({ login: 'alice', id: 1001 });
    expect(await cached.getUser('gho_alice')).toEqual({ login: 'alice', id: 1001 });
    await expect(cached.getUser('junk')).rejects.toMatchObject({ code: 'invalid_token' });
    await expect(cached.getUser('junk')).rejects.toMatchObject({ code: 'invalid_token' });
    expect(await cached.isTeamMember('acme', 'leads', 'carol')).toBe(true);
    expect(await cached.isTeamMember('ACME', 'leads', 'Carol')).toBe(true);
    expect(calls).toEqual(['user:gho_alice', 'user:junk', 'team:acme/leads:carol']);
    t = 60_000;
    await cached.getUser('gho_alice');
    expect(calls).toHaveLength(4);
  });

  it('does not remember a failure to ask', async () => {
    const { dir, calls, setDown } = upstream();
    const cached = cachedDirectory(dir, { now: () => new Date(0) });
    setDown(true);
    await expect(cached.getUser('gho_alice')).rejects.toMatchObject({ code: 'upstream_error' });
    setDown(false);
    expect(await cached.getUser('gho_alice')).toMatchObject({ login: 'alice' });
    expect(calls).toEqual(['user:gho_alice', 'user:gho_alice']);
  });
});

describe('approver call budget', () => {
  it('refuses the call past the budget with 429 and Retry-After; other addresses and the next minute are fresh', () => {
    let t = 0;
    const spend = callerBudget({ now: () => new Date(t), perMinute: 3 });
    for (let i = 0; i < 3; i++) spend('10.0.0.1');
    let refused: unknown;
    try {
      spend('10.0.0.1');
    } catch (e) {
      refused = e;
    }
    expect(refused).toMatchObject({ code: 'rate_limited', status: 429, retryAfter: 60 });
    expect(() => spend('10.0.0.2')).not.toThrow();
    t = 60_000;
    expect(() => spend('10.0.0.1')).not.toThrow();
  });
});

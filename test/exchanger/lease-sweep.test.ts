import { describe, expect, it } from 'vitest';
import { sweepOnce } from '../../exchanger/leases/sweep.js';
import type { Policy, Role } from '../../exchanger/policy/model/types.js';
import type { LeaseLookup, Provider } from '../../exchanger/providers/types.js';
import { openStore } from '../../exchanger/store/open.js';

const role = (name: string, provider: Role['provider']): Role => ({
  name,
  provider,
  durationSeconds: 900,
  maxDurationSeconds: 3600,
  allow: [],
  deny: [],
  requireProtectedEnvironment: false,
});

/** A store that holds no lease. */
const noLeases = { store: { getLease: async () => undefined }, now: () => new Date() };

const policy: Policy = {
  version: 1,
  issuers: [],
  defaults: { durationSeconds: 900, maxDurationSeconds: 3600 },
  admins: { logins: [], teams: [] },
  roles: new Map([
    ['a', role('a', 'kubernetes')],
    ['b', role('b', 'aws')],
    ['c', role('c', 'kubernetes')],
  ]),
};

function logger() {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
    lines.push({ level, msg, ...(fields ? { fields } : {}) });
  return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

describe('sweepOnce (lease end upstream)', () => {
  it('hands each provider with a sweep its own roles, and logs what ended', async () => {
    const seen: string[][] = [];
    const kubernetes = {
      name: 'kubernetes',
      mint: async () => {
        throw new Error('unused');
      },
      sweep: async (roles: Role[]) => {
        seen.push(roles.map((r) => r.name));
        return 2;
      },
    } satisfies Provider;
    const { lines, log } = logger();
    await sweepOnce({
      providers: { kubernetes, aws: { name: 'aws', mint: kubernetes.mint } },
      policy: () => policy,
      log,
      ...noLeases,
    });
    expect(seen).toEqual([['a', 'c']]);
    expect(lines).toEqual([
      { level: 'info', msg: 'ended leases swept upstream', fields: { provider: 'kubernetes', ended: 2 } },
    ]);
  });

  it('a failing sweep is logged, never thrown (the next interval retries)', async () => {
    const { lines, log } = logger();
    const failing = {
      name: 'kubernetes',
      mint: async () => ({ credentials: {}, expiresAt: new Date() }),
      sweep: async () => {
        throw new Error('API server down');
      },
    } satisfies Provider;
    await sweepOnce({ providers: { kubernetes: failing }, policy: () => policy, log, ...noLeases });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'lease sweep failed; retried next interval'],
    ]);
  });

  it('tells the provider what the store knows of a lease id: its provider, and whether it has ended', async () => {
    const store = await openStore('sqlite::memory:', { purgeIntervalMs: 0 });
    const now = new Date('2026-03-01T12:00:00Z');
    const lease = async (id: string, minutes: number) =>
      store.record(
        {
          at: now,
          requestId: `req_${id}`,
          event: 'exchange',
          outcome: 'allowed',
          reason: 'granted',
          claims: {},
        },
        {
          id,
          role: 'a',
          provider: 'kubernetes',
          createdAt: now,
          expiresAt: new Date(now.getTime() + minutes * 60_000),
          revokeTokenHash: 'a'.repeat(64),
        },
      );
    try {
      await lease('lease_live', 10);
      await lease('lease_expired', -1);
      await lease('lease_revoked', 10);
      await store.markRevoked('lease_revoked', now, {
        at: now,
        requestId: 'req_r',
        event: 'revoke',
        outcome: 'revoked',
        reason: 'lease revoked',
        claims: {},
      });
      const answers: Record<string, unknown> = {};
      const kubernetes = {
        name: 'kubernetes',
        mint: async () => {
          throw new Error('unused');
        },
        sweep: async (_roles: Role[], known: LeaseLookup) => {
          for (const id of ['lease_live', 'lease_expired', 'lease_revoked', 'lease_unknown'])
            answers[id] = await known(id);
          return 0;
        },
      } satisfies Provider;
      await sweepOnce({
        providers: { kubernetes },
        policy: () => policy,
        log: logger().log,
        store,
        now: () => now,
      });
      expect(answers).toEqual({
        lease_live: { provider: 'kubernetes', ended: false },
        lease_expired: { provider: 'kubernetes', ended: true },
        lease_revoked: { provider: 'kubernetes', ended: true },
        lease_unknown: undefined,
      });
    } finally {
      await store.close();
    }
  });
});

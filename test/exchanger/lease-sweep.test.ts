import { describe, expect, it } from 'vitest';
import { sweepOnce } from '../../exchanger/leases/sweep.js';
import type { Policy, Role } from '../../exchanger/policy/types.js';
import type { Provider } from '../../exchanger/providers/types.js';

const role = (name: string, provider: Role['provider']): Role => ({
  name,
  provider,
  durationSeconds: 900,
  maxDurationSeconds: 3600,
  allow: [],
  deny: [],
  requireProtectedEnvironment: false,
});

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
    await sweepOnce({ providers: { kubernetes: failing }, policy: () => policy, log });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'lease sweep failed; retried next interval'],
    ]);
  });
});

/** The approval state machine: pure functions of (state, event, now). */
import { describe, expect, it } from 'vitest';
import {
  approvalCount,
  approve,
  checkRedeemable,
  closeForRunEnd,
  deny,
  effectiveStatus,
  expire,
  REDEEM_WINDOW_SECONDS,
  redeemed,
} from '../../exchanger/approvals/state.js';
import type { ApprovalState, ApprovalVote } from '../../exchanger/store/approvals-types.js';

const T0 = new Date('2025-03-01T12:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const TIMEOUT = 1800;

const pending = (overrides: Partial<ApprovalState> = {}): ApprovalState => ({
  status: 'pending',
  expiresAt: at(TIMEOUT),
  approvals: [],
  ...overrides,
});
const vote = (login: string, id: string, seconds = 60): ApprovalVote => ({ login, id, at: at(seconds) });

describe('effectiveStatus: expiry is computed on read', () => {
  const cases: { name: string; state: ApprovalState; now: Date; want: string }[] = [
    { name: 'pending before the timeout', state: pending(), now: at(TIMEOUT - 1), want: 'pending' },
    { name: 'pending at the timeout is expired', state: pending(), now: at(TIMEOUT), want: 'expired' },
    {
      name: 'approved within the redeem window',
      state: pending({ status: 'approved', expiresAt: at(600) }),
      now: at(599),
      want: 'approved',
    },
    {
      name: 'approved past the redeem window is expired',
      state: pending({ status: 'approved', expiresAt: at(600) }),
      now: at(600),
      want: 'expired',
    },
    { name: 'denied stays denied', state: pending({ status: 'denied' }), now: at(99_999), want: 'denied' },
    {
      name: 'redeemed stays redeemed',
      state: pending({ status: 'redeemed' }),
      now: at(99_999),
      want: 'redeemed',
    },
  ];
  it.each(cases)('$name', ({ state, now, want }) => {
    expect(effectiveStatus(state, now)).toBe(want);
  });

  it('expire() gives the state to persist, once', () => {
    expect(expire(pending(), at(10))).toBeUndefined();
    const gone = expire(pending(), at(TIMEOUT));
    expect(gone).toEqual(pending({ status: 'expired' }));
    expect(expire(gone!, at(TIMEOUT + 10))).toBeUndefined();
  });
});

describe('approve', () => {
  it('with required 1, the first approval approves and starts the redeem window', () => {
    const { next, changed } = approve(pending(), vote('alice', '1001'), { required: 1, now: at(60) });
    expect(changed).toBe(true);
    expect(next).toEqual({
      status: 'approved',
      expiresAt: at(60 + REDEEM_WINDOW_SECONDS),
      approvals: [vote('alice', '1001')],
    });
  });

  it('required counts distinct approvers by user id; the same approver twice counts once', () => {
    const options = { required: 2, now: at(60) };
    const one = approve(pending(), vote('alice', '1001'), options).next;
    expect(one.status).toBe('pending');
    const again = approve(one, vote('Alice', '1001', 70), options);
    expect(again.changed).toBe(false);
    expect(approvalCount(again.next)).toBe(1);
    const two = approve(one, vote('carol', '1003', 80), { required: 2, now: at(80) }).next;
    expect(two.status).toBe('approved');
    expect(two.expiresAt).toEqual(at(80 + REDEEM_WINDOW_SECONDS));
    expect(two.approvals.map((v) => v.login)).toEqual(['alice', 'carol']);
  });

  it('a renamed login with the same id is the same approver', () => {
    const one = approve(pending(), vote('alice', '1001'), { required: 2, now: at(60) }).next;
    expect(approve(one, vote('alice-renamed', '1001'), { required: 2, now: at(61) }).changed).toBe(false);
  });

  it('an already approved request is left as it is', () => {
    const approved = pending({ status: 'approved', expiresAt: at(600), approvals: [vote('alice', '1001')] });
    expect(approve(approved, vote('carol', '1003'), { required: 1, now: at(100) })).toEqual({
      next: approved,
      changed: false,
    });
  });

  const closed: { name: string; state: ApprovalState; now: Date; message: RegExp }[] = [
    {
      name: 'denied',
      state: pending({ status: 'denied', decidedBy: 'bob', reason: 'freeze' }),
      now: at(10),
      message: /can no longer be approved: it was denied by bob/,
    },
    {
      name: 'expired on read',
      state: pending(),
      now: at(TIMEOUT),
      message: /it expired at 2025-03-01T12:30:00.000Z/,
    },
    {
      name: 'redeemed',
      state: pending({ status: 'redeemed' }),
      now: at(10),
      message: /approved and has been used/,
    },
  ];
  it.each(closed)('a $name request cannot be approved (400 invalid_request)', ({ state, now, message }) => {
    expect(() => approve(state, vote('alice', '1001'), { required: 1, now })).toThrow(
      expect.objectContaining({ code: 'invalid_request', message: expect.stringMatching(message) }),
    );
  });
});

describe('deny', () => {
  it('one denial ends a pending request, whatever required is, and keeps the reason and who', () => {
    const one = approve(pending(), vote('alice', '1001'), { required: 2, now: at(60) }).next;
    expect(deny(one, { login: 'bob' }, 'change freeze', at(90))).toEqual({
      ...one,
      status: 'denied',
      reason: 'change freeze',
      decidedBy: 'bob',
    });
  });

  it.each([
    ['approved', pending({ status: 'approved', expiresAt: at(600) }), at(10)],
    ['expired', pending(), at(TIMEOUT + 1)],
    ['denied', pending({ status: 'denied' }), at(10)],
  ] as const)('a %s request cannot be denied', (_name, state, now) => {
    expect(() => deny(state, { login: 'bob' }, 'no', now)).toThrow(
      expect.objectContaining({ code: 'invalid_request' }),
    );
  });
});

describe('redeem', () => {
  const cases: { name: string; state: ApprovalState; now: Date; code?: string; message?: RegExp }[] = [
    {
      name: 'approved: redeemable',
      state: pending({ status: 'approved', expiresAt: at(600) }),
      now: at(599),
    },
    {
      name: 'pending',
      state: pending(),
      now: at(10),
      code: 'not_approved',
      message: /not approved yet \(0 of 1/,
    },
    {
      name: 'denied',
      state: pending({ status: 'denied', decidedBy: 'bob', reason: 'freeze' }),
      now: at(10),
      code: 'not_approved',
      message: /denied by bob: freeze/,
    },
    {
      name: 'approved but past the redeem window',
      state: pending({ status: 'approved', expiresAt: at(600) }),
      now: at(600),
      code: 'not_approved',
      message: /expired at .* without being redeemed/,
    },
    {
      name: 'redeemed',
      state: pending({ status: 'redeemed' }),
      now: at(10),
      code: 'already_redeemed',
      message: /good for one use/,
    },
  ];
  it.each(cases)('$name', ({ state, now, code, message }) => {
    const check = () => checkRedeemable({ ...state, required: 1 }, now);
    if (!code) expect(check).not.toThrow();
    else expect(check).toThrow(expect.objectContaining({ code, message: expect.stringMatching(message!) }));
  });

  it('redeemed() records the lease and when', () => {
    const approved = pending({ status: 'approved', expiresAt: at(600), approvals: [vote('alice', '1001')] });
    expect(redeemed(approved, 'lease_1', at(100))).toEqual({
      ...approved,
      status: 'redeemed',
      leaseId: 'lease_1',
      redeemedAt: at(100),
    });
  });

  it('walks the whole way: pending → approved → redeemed, then nothing more', () => {
    let state = pending();
    state = approve(state, vote('alice', '1001'), { required: 1, now: at(60) }).next;
    checkRedeemable(state, at(70));
    state = redeemed(state, 'lease_1', at(70));
    expect(effectiveStatus(state, at(99_999))).toBe('redeemed');
    expect(() => checkRedeemable(state, at(80))).toThrow(
      expect.objectContaining({ code: 'already_redeemed' }),
    );
    expect(() => deny(state, { login: 'bob' }, 'late', at(80))).toThrow();
  });
});

describe('closeForRunEnd', () => {
  const why = 'run 42 attempt 1 completed';
  it('closes a pending or approved request as expired now, saying why', () => {
    for (const state of [pending(), pending({ status: 'approved', expiresAt: at(600) })]) {
      const next = closeForRunEnd(state, at(60), why);
      expect(next).toMatchObject({ status: 'expired', expiresAt: at(60), reason: why });
      expect(() => checkRedeemable(next!, at(61))).toThrow(
        /expired at .* \(run 42 attempt 1 completed\) without/,
      );
    }
  });

  it('leaves a request already ended alone', () => {
    for (const state of [
      pending({ status: 'denied', reason: 'no' }),
      redeemed(pending({ status: 'approved' }), 'lease-1', at(5)),
      pending({ status: 'expired' }),
      pending(),
    ]) {
      expect(closeForRunEnd(state, at(TIMEOUT + 1), why)).toBeUndefined();
    }
  });
});

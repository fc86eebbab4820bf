/**
 * The webhook body budget (issue 24, item 7): charged as bytes arrive, a small share per sender
 * not proven by a signed delivery, a reserve only proven senders use; and the memory of signed
 * deliveries that makes a replay a replay.
 */
import { describe, expect, it } from 'vitest';
import { addressKey, createWebhookBudget } from '../../exchanger/server/webhook-budget.js';
import { createDeliveryMemory } from '../../exchanger/server/webhook-deliveries.js';

const LIMITS = { totalBytes: 100, reservedBytes: 40, perAddressBytes: 20, provenForMs: 1000, maxProven: 2 };

function budget() {
  let t = 0;
  return { b: createWebhookBudget(LIMITS, { now: () => t }), advance: (ms: number) => (t += ms) };
}

describe('webhook body budget', () => {
  it('holds a sender without a signed delivery to its share, and gives it back on release', () => {
    const { b } = budget();
    const first = b.open('10.0.0.1');
    expect(first.take(15)).toBeUndefined();
    const second = b.open('10.0.0.1');
    expect(second.take(5)).toBeUndefined();
    expect(second.take(1)).toMatch(/held to .* MiB at once/);
    // Another address has its own share.
    expect(b.open('10.0.0.2').take(20)).toBeUndefined();
    first.release();
    first.release();
    expect(b.open('10.0.0.1').take(15)).toBeUndefined();
  });

  it('keeps the reserve for addresses that delivered a signed body lately', () => {
    const { b, advance } = budget();
    const github = b.open('192.0.2.1');
    github.take(1);
    github.signed();
    github.release();
    // Three unproven senders fill the 60 bytes not reserved.
    for (const peer of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) expect(b.open(peer).take(20)).toBeUndefined();
    expect(b.open('10.0.0.4').take(1)).toMatch(/unproven senders/);
    // The proven sender still has the 40 reserved (and is not held to the per-address share).
    const delivery = b.open('192.0.2.1');
    expect(delivery.take(40)).toBeUndefined();
    expect(delivery.take(1)).toMatch(/as many webhook bodies as it will/);
    delivery.release();
    // Proven only for provenForMs.
    advance(1000);
    expect(b.open('192.0.2.1').take(1)).toMatch(/unproven senders/);
  });

  it('remembers at most maxProven addresses, forgetting the longest unseen', () => {
    const { b } = budget();
    for (const peer of ['192.0.2.1', '192.0.2.2', '192.0.2.1', '192.0.2.3']) b.open(peer).signed();
    for (const peer of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) b.open(peer).take(20);
    expect(b.open('192.0.2.1').take(1)).toBeUndefined();
    expect(b.open('192.0.2.3').take(1)).toBeUndefined();
    expect(b.open('192.0.2.2').take(1)).toMatch(/unproven senders/);
  });

  it('counts an IPv6 sender by its /64 and an IPv4-mapped one as IPv4', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2::ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::ffff:127.0.0.2')).toBe('127.0.0.2');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    const { b } = budget();
    expect(b.open('2001:db8:1:2::1').take(20)).toBeUndefined();
    expect(b.open('2001:db8:1:2::2').take(1)).toMatch(/held to/);
  });
});

describe('signed delivery memory', () => {
  it('knows a delivery again by its id or by its signed body, and forgets one whose work failed', () => {
    let t = 0;
    const m = createDeliveryMemory({ keepMs: 1000, max: 10 }, () => t);
    const first = m.begin('d-1', 'aa');
    expect('replayOf' in first).toBe(false);
    expect(m.begin('d-1', 'aa')).toEqual({ replayOf: 'd-1' });
    expect(m.begin('d-2', 'aa')).toEqual({ replayOf: 'd-1' });
    expect(m.begin('d-1', 'bb')).toEqual({ replayOf: 'd-1' });
    const other = m.begin('d-3', 'cc');
    if ('replayOf' in other) throw new Error('d-3 is new');
    other.failed();
    expect('replayOf' in m.begin('d-3', 'cc')).toBe(false);
    t += 1000;
    expect('replayOf' in m.begin('d-1', 'aa')).toBe(false);
  });

  it('remembers at most max deliveries', () => {
    const m = createDeliveryMemory({ keepMs: 1000, max: 2 }, () => 0);
    for (const id of ['a', 'b', 'c']) m.begin(id, id);
    expect('replayOf' in m.begin('a', 'a')).toBe(false);
    expect(m.begin('c', 'c')).toEqual({ replayOf: 'c' });
  });
});

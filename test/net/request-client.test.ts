/** The client fields of an audit row: the user agent as stored, and address keys for `--client`. */
import { describe, expect, it } from 'vitest';
import {
  addressKey,
  addressKeyRange,
  auditedUserAgent,
  MAX_USER_AGENT,
} from '../../exchanger/net/request-client.js';

describe('auditedUserAgent', () => {
  it.each([
    { name: 'a plain one, as sent', ua: 'jitkey-action/1.2 (node 20)', want: 'jitkey-action/1.2 (node 20)' },
    { name: 'control characters escaped', ua: 'a\u001b[2Jb\r\nc', want: 'a\\u001b[2Jb\\u000d\\u000ac' },
    { name: 'bidi controls escaped', ua: 'main\u202enoisserpmi', want: 'main\\u202enoisserpmi' },
    { name: 'a backslash doubled, so no escape is forged', ua: 'x\\u001b', want: 'x\\\\u001b' },
    { name: 'empty is none', ua: '', want: undefined },
  ])('$name', ({ ua, want }) => {
    expect(auditedUserAgent(ua)).toBe(want);
  });

  it('cuts a long one, marking the cut', () => {
    const cut = auditedUserAgent('x'.repeat(10_000))!;
    expect(cut).toHaveLength(MAX_USER_AGENT);
    expect(cut.endsWith('x…')).toBe(true);
  });
});

describe('address keys', () => {
  it('sort as the addresses do, one family at a time', () => {
    const keys = ['10.0.0.2', '9.255.255.255', '10.0.0.10', '::1', '2001:db8::1'].map((a) => addressKey(a)!);
    expect([...keys].sort()).toEqual([
      addressKey('9.255.255.255'),
      addressKey('10.0.0.2'),
      addressKey('10.0.0.10'),
      addressKey('::1'),
      addressKey('2001:db8::1'),
    ]);
    expect(addressKey('::ffff:10.0.0.2')).toBe(addressKey('10.0.0.2'));
    expect(addressKey('runner-7')).toBeUndefined();
  });

  it('a range covers exactly its addresses', () => {
    const { from, to, canonical } = addressKeyRange('10.1.2.3/16', '--client');
    expect(canonical).toBe('10.1.0.0/16');
    const inside = (a: string) => addressKey(a)! >= from && addressKey(a)! <= to;
    expect(['10.1.0.0', '10.1.255.255'].every(inside)).toBe(true);
    expect(['10.0.255.255', '10.2.0.0', '::a01:0'].some(inside)).toBe(false);
  });
});

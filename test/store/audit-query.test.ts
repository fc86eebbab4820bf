import { describe, expect, it } from 'vitest';
import { parseAuditFilter } from '../../exchanger/audit/query.js';

const NOW = new Date('2025-03-01T12:00:00Z');

describe('parseAuditFilter', () => {
  it.each([
    { name: 'nothing', options: {}, want: {} },
    { name: 'since 1h', options: { since: '1h' }, want: { since: new Date('2025-03-01T11:00:00Z') } },
    { name: 'since 30m', options: { since: '30m' }, want: { since: new Date('2025-03-01T11:30:00Z') } },
    { name: 'since 1h30m', options: { since: '1h30m' }, want: { since: new Date('2025-03-01T10:30:00Z') } },
    { name: 'since 2d', options: { since: '2d' }, want: { since: new Date('2025-02-27T12:00:00Z') } },
    {
      name: 'since RFC 3339 Z',
      options: { since: '2025-02-01T08:30:00Z' },
      want: { since: new Date('2025-02-01T08:30:00Z') },
    },
    {
      name: 'since RFC 3339 offset and fraction',
      options: { since: '2025-02-01T10:30:00.250+02:00' },
      want: { since: new Date('2025-02-01T08:30:00.250Z') },
    },
    {
      name: 'since a date',
      options: { since: '2025-02-01' },
      want: { since: new Date('2025-02-01T00:00:00Z') },
    },
    {
      name: 'every filter',
      options: { repository: 'acme/web', outcome: 'denied', role: 'deploy', limit: '50' },
      want: { repository: 'acme/web', outcome: 'denied', role: 'deploy', limit: 50 },
    },
    { name: 'other outcomes', options: { outcome: 'revoked' }, want: { outcome: 'revoked' } },
    { name: 'numeric limit', options: { limit: 5 }, want: { limit: 5 } },
    { name: 'client address', options: { client: '192.0.2.7' }, want: { client: '192.0.2.7' } },
    { name: 'client range, canonical', options: { client: '10.1.0.0/8' }, want: { client: '10.0.0.0/8' } },
    { name: 'client IPv6 range', options: { client: '2001:DB8::/32' }, want: { client: '2001:db8::/32' } },
  ])('$name', ({ options, want }) => {
    expect(parseAuditFilter(options, NOW)).toEqual(want);
  });

  it.each([
    {
      name: 'unknown unit',
      options: { since: '1w' },
      says: "invalid --since '1w': write how far back (30m, 1h, 2d)",
    },
    { name: 'zero', options: { since: '0m' }, says: "invalid --since '0m'" },
    { name: 'time without zone', options: { since: '2025-02-01T08:30:00' }, says: 'add Z or an offset' },
    { name: 'no such day', options: { since: '2025-02-30T00:00:00Z' }, says: 'no such date or time' },
    { name: 'no such hour', options: { since: '2025-02-01T25:00:00Z' }, says: 'no such date or time' },
    {
      name: 'owner only',
      options: { repository: 'acme' },
      says: "invalid --repository 'acme': write OWNER/NAME",
    },
    {
      name: 'bad outcome',
      options: { outcome: 'granted' },
      says: "invalid --outcome 'granted': write one of allowed, denied, error, revoked, pending",
    },
    { name: 'empty role', options: { role: ' ' }, says: 'invalid --role' },
    {
      name: 'client not an address',
      options: { client: 'runner-7' },
      says: "invalid --client 'runner-7' is not an IPv4 or IPv6 address: write an address or a CIDR range",
    },
    {
      name: 'client prefix too long',
      options: { client: '10.0.0.0/33' },
      says: "invalid --client '10.0.0.0/33' has a prefix length outside 0–32",
    },
    { name: 'limit 0', options: { limit: '0' }, says: "invalid --limit '0': write a whole number from 1" },
    { name: 'limit words', options: { limit: 'ten' }, says: "invalid --limit 'ten'" },
    { name: 'limit fraction', options: { limit: 2.5 }, says: "invalid --limit '2.5'" },
  ])('refuses $name', ({ options, says }) => {
    expect(() => parseAuditFilter(options, NOW)).toThrow(says);
    expect(() => parseAuditFilter(options, NOW)).toThrow(
      expect.objectContaining({ code: 'invalid_request' }),
    );
  });
});

import { describe, expect, it } from 'vitest';
import { formatAuditJson, formatAuditTable } from '../../exchanger/audit/format.js';
import { entry } from './contract.js';

const granted = entry({
  at: new Date('2025-03-01T12:00:00.123Z'),
  leaseId: 'lease_0123456789abcdef',
  expiresAt: new Date('2025-03-01T12:15:00Z'),
});
const denied = entry({
  at: new Date('2025-03-01T12:01:00Z'),
  requestId: 'req-2',
  outcome: 'denied',
  errorCode: 'access_denied',
  role: 'a-role-name-that-is-far-too-long-for-its-column',
  reason: "role 'deploy-web-prod': ref 'refs/heads/dev' did not match\n\u001b[31mred",
  claims: { repository: 'acme/web', ref: 'refs/heads/dev', event_name: 'pull_request' },
});

describe('formatAuditTable', () => {
  it('lines up one row per entry under a header', () => {
    const lines = formatAuditTable([denied, granted]).split('\n');
    expect(lines).toHaveLength(4); // header, two rows, final newline
    expect(lines[3]).toBe('');
    expect(lines[0]).toMatch(
      /^TIME +EVENT +OUTCOME +ROLE +REPOSITORY +REF +TRIGGER +RUN +LEASE +CLIENT +REASON$/,
    );
    const reasonAt = lines[0]!.indexOf('REASON');
    expect(lines[1]!.slice(reasonAt)).toMatch(/^access_denied: role 'deploy-web-prod'/);
    expect(lines[2]!.slice(reasonAt)).toBe('granted for 15m');
    expect(lines[2]).toMatch(
      /^2025-03-01 12:00:00Z +exchange +allowed +deploy-web-prod +acme\/web +refs\/heads\/main/,
    );
    expect(lines[2]).toContain(' 42/1 ');
  });

  it('truncates long values and marks it; empty cells show -', () => {
    const table = formatAuditTable([denied, granted]);
    expect(table).toContain('a-role-name-that-is-far…');
    expect(table).not.toContain('far-too-long');
    expect(table).toContain('lease_012345678…');
    expect(table.split('\n')[1]).toMatch(/ pull_request +- +- +- +access_denied/);
  });

  it('replaces control characters, so a claim cannot drive the terminal', () => {
    const table = formatAuditTable([denied]);
    expect(table).not.toContain('\u001b');
    expect(table.trimEnd().split('\n')).toHaveLength(2);
  });

  it('says so when nothing matched', () => {
    expect(formatAuditTable([])).toBe('no audit entries match\n');
  });
});

describe('formatAuditJson', () => {
  it('writes one object per line, snake_case, RFC 3339 times, absent fields left out', () => {
    const lines = formatAuditJson([granted, denied]).split('\n');
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[0]!)).toEqual({
      at: '2025-03-01T12:00:00.123Z',
      request_id: 'req-1',
      event: 'exchange',
      outcome: 'allowed',
      role: 'deploy-web-prod',
      provider: 'aws',
      reason: 'granted for 15m',
      claims: granted.claims,
      lease_id: 'lease_0123456789abcdef',
      expires_at: '2025-03-01T12:15:00.000Z',
    });
    expect(JSON.parse(lines[1]!)).toMatchObject({ error_code: 'access_denied', reason: denied.reason });
  });

  it("names the request's client: address and user agent (issue 26)", () => {
    const line = formatAuditJson([{ ...granted, clientAddress: '2001:db8::7', userAgent: 'curl/8.5.0' }]);
    expect(JSON.parse(line)).toMatchObject({ client_address: '2001:db8::7', user_agent: 'curl/8.5.0' });
    expect(formatAuditTable([{ ...granted, clientAddress: '192.0.2.44' }])).toMatch(
      /CLIENT[\s\S]*192\.0\.2\.44/,
    );
  });

  it('names who decided by login and GitHub user id', () => {
    const line = formatAuditJson([{ ...granted, event: 'approve', actor: 'alice', actorId: '1001' }]);
    expect(JSON.parse(line)).toMatchObject({ actor: 'alice', actor_id: '1001' });
  });

  it('is empty for no entries', () => {
    expect(formatAuditJson([])).toBe('');
  });
});

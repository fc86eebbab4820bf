/**
 * Issue 16, item 2: what an unauthenticated caller can make the exchanger write. A real
 * `jitkey serve`; the audit read back from its SQLite file, the log from its output.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../exchanger/store/audit-types.js';
import { openStore } from '../../exchanger/store/open.js';
import { type Stack, startStack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

async function auditRows(): Promise<AuditEntry[]> {
  const store = await openStore(stack.exchanger.store, { purgeIntervalMs: 0 });
  try {
    return await store.queryAudit({ limit: 10_000 });
  } finally {
    await store.close();
  }
}

/** What the store's files and the process's log hold, to look for echoed input. */
function written(): string {
  const path = stack.exchanger.storePath!;
  const files = [path, `${path}-wal`].map((p) => {
    try {
      return readFileSync(p, 'latin1');
    } catch {
      return '';
    }
  });
  return files.join('') + stack.exchanger.output();
}

describe('unauthenticated audit and log flooding (issue 16, item 2)', () => {
  it('verifies the token before the body: a junk bearer with a huge key is refused as 401, and the key is written nowhere', async () => {
    const key = `FLOODKEY${'k'.repeat(15_000)}`;
    const answers = await Promise.all(
      Array.from({ length: 30 }, () => stack.exchange('junk.junk.junk', { [key]: 1 })),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(30).fill(401));
    expect(answers.every((a) => a.body.error === 'invalid_token')).toBe(true);
    expect(written()).not.toContain('FLOODKEY');
  });

  it('audits one row per peer per window for refusals of unverified tokens, not one per request', async () => {
    const rows = (await auditRows()).filter((r) => r.errorCode === 'invalid_token');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.claims).toEqual({});
  });

  it('treats a redemption the same: token before body, one row per peer per window', async () => {
    const key = `REDEEMKEY${'k'.repeat(15_000)}`;
    const answers = await Promise.all(
      Array.from({ length: 30 }, () =>
        stack.post('/v1/requests/req_abc/redeem', { [key]: 1 }, { authorization: 'Bearer junk.junk.junk' }),
      ),
    );
    expect(answers.map((a) => `${a.status} ${a.body.error}`)).toEqual(Array(30).fill('401 invalid_token'));
    expect(written()).not.toContain('REDEEMKEY');
    const rows = (await auditRows()).filter((r) => r.event === 'redeem');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ requestId: 'req_abc', errorCode: 'invalid_token', claims: {} });
  });

  it('audits the replays of one spent token once per window, each spent token once', async () => {
    const first = stack.idp.mint();
    const second = stack.idp.mint();
    expect((await stack.exchange(first, { role: 'deploy' })).status).toBe(200);
    expect((await stack.exchange(second, { role: 'deploy' })).status).toBe(200);
    const replays = await Promise.all([
      ...Array.from({ length: 20 }, () => stack.exchange(first, { role: 'deploy' })),
      stack.exchange(second, { role: 'deploy' }),
    ]);
    expect(replays.map((a) => `${a.status} ${a.body.error}`)).toEqual(Array(21).fill('401 token_replayed'));
    const rows = (await auditRows()).filter((r) => r.errorCode === 'token_replayed');
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.claims.repository === 'acme/web')).toBe(true);
  });

  it('still audits each refusal of a verified token, with the echoed role name cut short', async () => {
    const role = `eyJ${'a'.repeat(5_000)}`;
    const res = await stack.exchange(stack.idp.mint(), { role });
    expect(res.status).toBe(400);
    expect(res.body.message.length).toBeLessThan(300);
    expect(res.body.message).toMatch(/^unknown role 'eyJa+…'/);
    const [row] = (await auditRows()).filter((r) => r.requestId === res.body.request_id);
    expect(row!.role!.length).toBe(100);
    expect(row!.claims.repository).toBe('acme/web');
    expect(row!.reason.length).toBeLessThan(300);
    expect(written()).not.toContain('a'.repeat(200));
  });

  it('cuts an unknown field of a verified caller in the message too', async () => {
    const res = await stack.exchange(stack.idp.mint(), { role: 'deploy', [`x${'y'.repeat(10_000)}`]: 1 });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/^unknown field 'xy+…': the body takes/);
    expect(res.body.message.length).toBeLessThan(300);
  });
});

describe('the folded count at shutdown', () => {
  it('is written before the store closes: the last minute’s refusals are counted, not lost', async () => {
    const own = await startStack();
    try {
      const exchanges = await Promise.all(
        Array.from({ length: 7 }, () => own.exchange('junk.junk.junk', {})),
      );
      const redeems = await Promise.all(
        Array.from({ length: 4 }, () =>
          own.post('/v1/requests/req_x/redeem', {}, { authorization: 'Bearer junk.junk.junk' }),
        ),
      );
      expect([...exchanges, ...redeems].every((a) => a.status === 401)).toBe(true);
    } finally {
      await own.stop();
    }
    expect(own.exchanger.child.exitCode).toBe(0);
    const store = await openStore(own.exchanger.store, { purgeIntervalMs: 0 });
    try {
      const rows = await store.queryAudit({ limit: 100 });
      const reasons = (event: string) =>
        rows
          .filter((r) => r.event === event)
          .map((r) => r.reason.replace(/ from .*/, ''))
          .sort();
      expect(reasons('exchange')).toEqual([
        '6 more refused requests with an unverified token',
        expect.stringMatching(/^the token is malformed/),
      ]);
      expect(reasons('redeem')).toEqual([
        '3 more refused requests with an unverified token',
        expect.stringMatching(/^the token is malformed/),
      ]);
    } finally {
      await store.close();
    }
  });
});

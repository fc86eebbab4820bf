/**
 * Issue 5, scale-out: two `jitkey serve` processes on one PostgreSQL database share replay
 * protection, leases and the audit trail.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_SCHEMA_VERSION } from '../../exchanger/store/postgres-schema.js';
import { runCli } from '../support/exchanger-process.js';
import {
  type Cluster,
  exchangeOn,
  freshToken,
  halfWritten,
  readLedger,
  readyz,
  startCluster,
} from '../support/scale.js';

let c: Cluster;

beforeAll(async () => {
  c = await startCluster({ instances: 2 });
});
afterAll(() => c?.stop());

describe('two instances on one PostgreSQL store', () => {
  it('both start together on a fresh schema (one migrates, the other finds it done) and are ready', async () => {
    const versions = (
      await c.db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')
    ).map((r) => r.version);
    // Each migration applied once, in order, whichever instance applied it.
    expect(versions).toEqual(Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1));
    expect(await Promise.all(c.instances.map(readyz))).toEqual([200, 200]);
  });

  it('a token exchanged on A is refused on B (token_replayed), and both decisions are audited', async () => {
    const [a, b] = c.instances as [Cluster['instances'][0], Cluster['instances'][0]];
    const token = freshToken(c.idp, 1);
    const first = await exchangeOn(a, token);
    expect(first.status).toBe(200);
    const again = await exchangeOn(b, token);
    expect(again.status).toBe(401);
    expect(again.body.error).toBe('token_replayed');

    // Matched by request id: a replayed token's audit row carries no claims (they are taken
    // only after the token id is spent).
    const rows = await c.db.query<{ request_id: string; outcome: string; error_code: string | null }>(
      'SELECT request_id, outcome, error_code FROM audit WHERE lease_id = $1 OR request_id = $2 ORDER BY id',
      [first.body.lease_id, again.body.request_id],
    );
    expect(rows).toEqual([
      { request_id: expect.any(String), outcome: 'allowed', error_code: null },
      { request_id: again.body.request_id, outcome: 'denied', error_code: 'token_replayed' },
    ]);
  });

  it('the same token sent to both at once succeeds exactly once, 25 times over', async () => {
    const [a, b] = c.instances as [Cluster['instances'][0], Cluster['instances'][0]];
    for (let n = 100; n < 125; n++) {
      const token = freshToken(c.idp, n);
      const answers = await Promise.all([exchangeOn(a, token), exchangeOn(b, token)]);
      expect(answers.map((x) => x.status).sort()).toEqual([200, 401]);
      expect(answers.find((x) => x.status === 401)!.body.error).toBe('token_replayed');
    }
    const ledger = await readLedger(c.db);
    for (let n = 100; n < 125; n++) expect(ledger.leasesByRun.get(String(1_000_000 + n))).toHaveLength(1);
    expect(halfWritten(ledger)).toEqual([]);
  });

  it('a lease granted on A is revoked on B, and `jitkey audit` sees both instances', async () => {
    const [a, b] = c.instances as [Cluster['instances'][0], Cluster['instances'][0]];
    const grant = await exchangeOn(a, freshToken(c.idp, 200));
    expect(grant.status).toBe(200);
    const revoke = await fetch(`${b.url}/v1/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ lease_id: grant.body.lease_id, revoke_token: grant.body.revoke_token }),
    });
    expect(revoke.status).toBe(204);
    const [lease] = await c.db.query<{ revoked_at: Date | null }>(
      'SELECT revoked_at FROM leases WHERE id = $1',
      [grant.body.lease_id],
    );
    expect(lease?.revoked_at).toBeInstanceOf(Date);

    const out = await runCli(['audit', '--store', c.db.storeUrl, '--json', '--since', '1h']);
    expect(out.code).toBe(0);
    const entries = out.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { lease_id?: string; outcome: string });
    expect(
      entries
        .filter((e) => e.lease_id === grant.body.lease_id)
        .map((e) => e.outcome)
        .sort(),
    ).toEqual(['allowed', 'revoked']);
  });
});

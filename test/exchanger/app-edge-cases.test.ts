/**
 * Edge cases of the HTTP surface that a real store or cloud will not produce on demand: a store
 * that fails at each step, a server at capacity, an unexpected exception. The collaborators are
 * in-process fakes here; everything else is the real app on a loopback port.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { JitkeyError } from '../../exchanger/errors.js';
import { createLogger, silentLogger } from '../../exchanger/log.js';
import { evaluate } from '../../exchanger/policy/evaluate/evaluate.js';
import type { Provider } from '../../exchanger/providers/types.js';
import { type AppDeps, createServer } from '../../exchanger/server/app.js';
import { createMetrics } from '../../exchanger/server/metrics.js';
import type { AuditEntry } from '../../exchanger/store/audit-types.js';
import type { LeaseRecord } from '../../exchanger/store/leases-types.js';
import type { Store } from '../../exchanger/store/types.js';
import { ONE_GITHUB_ROLE } from '../support/app-policy.js';

const policy = ONE_GITHUB_ROLE;

const claims = { repository: 'acme/web', repository_id: '123456', run_id: '1' };

function fakeStore(overrides: Partial<Store> = {}): Store & { audit: AuditEntry[]; leases: LeaseRecord[] } {
  const audit: AuditEntry[] = [];
  const leases: LeaseRecord[] = [];
  return {
    kind: 'sqlite',
    audit,
    leases,
    consumeJti: async () => true,
    // Through `consumeJti` and `record`, so an override of those reaches the exchange too.
    async spendToken(token, run) {
      const fresh = await this.consumeJti(token.jti, token.expiresAt, token.issuer);
      return run ? { fresh, run: { completed: false } } : { fresh };
    },
    async recordGrant(entry, lease) {
      await this.record(entry, lease);
      return { completed: false };
    },
    record: async (entry, lease) => {
      audit.push(entry);
      if (lease) leases.push(lease);
    },
    getLease: async () => undefined,
    markRevoked: async () => {},
    queryAudit: async () => audit,
    purgeExpired: async () => 0,
    ping: async () => {},
    close: async () => {},
    ...overrides,
  } as Store & { audit: AuditEntry[]; leases: LeaseRecord[] };
}

function provider(overrides: Partial<Provider> = {}): Provider & { revoked: string[] } {
  const revoked: string[] = [];
  return {
    name: 'github',
    revoked,
    mint: async () => ({
      credentials: { token: 'ghs_minted', permissions: {}, repositories: [] },
      expiresAt: new Date(Date.now() + 3_600_000),
      revocationSecret: 'ghs_minted',
    }),
    revoke: async (_role, secret) => {
      revoked.push(secret);
    },
    ...overrides,
  };
}

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

async function serve(deps: Partial<AppDeps>) {
  const server = createServer({
    policy: () => policy,
    verifier: () => ({
      verify: async () => ({
        claims,
        jti: 'jti-1',
        issuer: 'https://token.actions.githubusercontent.com',
        expiresAt: new Date(Date.now() + 300_000),
      }),
    }),
    evaluate,
    store: fakeStore(),
    providers: { github: provider() },
    guards: [],
    metrics: createMetrics(),
    log: silentLogger,
    now: () => new Date(),
    ...deps,
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  close = () => new Promise((r) => server.close(() => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const exchange = async (body: unknown = { role: 'deploy' }) => {
    const res = await fetch(`${url}/v1/exchange`, {
      method: 'POST',
      headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return {
      status: res.status,
      headers: res.headers,
      body: (await res.json()) as { error: string; message: string },
    };
  };
  return Object.assign(exchange, { url });
}

describe('fail closed on the store', () => {
  it('answers 503 when the replay check cannot be recorded, and mints nothing', async () => {
    let minted = 0;
    const exchange = await serve({
      store: fakeStore({ consumeJti: async () => Promise.reject(new Error('disk I/O error')) }),
      providers: {
        github: provider({
          mint: async () => {
            minted++;
            throw new Error('unreachable');
          },
        }),
      },
    });
    const res = await exchange();
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('unavailable');
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.body.message).not.toMatch(/disk/);
    expect(minted).toBe(0);
  });

  it('answers 503 when the lease cannot be recorded, and revokes what it minted', async () => {
    const github = provider();
    const exchange = await serve({
      store: fakeStore({ record: async () => Promise.reject(new Error('database is locked')) }),
      providers: { github },
    });
    const res = await exchange();
    expect(res.status).toBe(503);
    expect(JSON.stringify(res.body)).not.toContain('ghs_minted');
    expect(github.revoked).toEqual(['ghs_minted']);
  });

  it('answers 503 for a denial whose audit row cannot be written: no decision goes unaudited', async () => {
    const exchange = await serve({
      store: fakeStore({ record: async () => Promise.reject(new Error('gone')) }),
      verifier: () => ({
        verify: async () => ({
          claims: { repository_id: '999' },
          jti: 'j',
          issuer: 'https://token.actions.githubusercontent.com',
          expiresAt: new Date(Date.now() + 60_000),
        }),
      }),
    });
    const res = await exchange();
    expect(res.status).toBe(503);
  });
});

describe('capacity and unexpected failures', () => {
  it('answers 429 rate_limited with Retry-After once maxInFlight requests are in flight and none may wait', async () => {
    let release!: () => void;
    let entered!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const inMint = new Promise<void>((r) => (entered = r));
    const exchange = await serve({
      maxInFlight: 1,
      limits: { inFlightQueue: 0 },
      providers: {
        github: provider({
          mint: async (r) => {
            entered();
            await gate;
            return provider().mint(r);
          },
        }),
      },
    });
    const first = exchange();
    await inMint;
    const second = await exchange();
    expect(second.status).toBe(429);
    expect(second.body.error).toBe('rate_limited');
    expect(second.headers.get('retry-after')).toBe('1');
    release();
    expect((await first).status).toBe(200);
  });

  it('answers 500 internal_error for an unexpected exception, revealing nothing of it', async () => {
    const exchange = await serve({
      providers: {
        github: provider({ mint: async () => Promise.reject(new TypeError('secret internals x.y')) }),
      },
    });
    const res = await exchange();
    expect(res.status).toBe(500);
    expect(res.body.error).toBe('internal_error');
    expect(res.body.message).not.toContain('internals');
  });

  it('logs an unexpected exception at error with its stack, on a line carrying the request id', async () => {
    const lines: string[] = [];
    const exchange = await serve({
      log: createLogger({ write: (line) => lines.push(line) }),
      providers: {
        github: provider({ mint: async () => Promise.reject(new TypeError('boom in the provider')) }),
      },
    });
    const res = await exchange();
    const body = res.body as unknown as { request_id: string };
    const failed = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request failed');
    expect(failed).toMatchObject({ level: 'error', request_id: body.request_id, code: 'internal_error' });
    expect(failed.error.stack).toMatch(/^TypeError: boom in the provider\n\s+at /);
  });

  it('maps a provider JitkeyError to its own status', async () => {
    const exchange = await serve({
      providers: {
        github: provider({
          mint: async () => Promise.reject(new JitkeyError('upstream_error', 'GitHub answered 422')),
        }),
      },
    });
    const res = await exchange();
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ error: 'upstream_error', message: 'GitHub answered 422' });
  });
});

describe('headers of JSON answers', () => {
  it('sends a granted credential as no-store and nosniff', async () => {
    const exchange = await serve({});
    const res = await exchange();
    expect(res.status).toBe(200);
    expect(res.body).toHaveProperty('credentials');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
  });

  it('sends an error answer as no-store and nosniff', async () => {
    const exchange = await serve({});
    const res = await exchange({ role: 7 });
    expect(res.status).toBe(400);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('sends the metrics text as no-store and nosniff, so no browser renders it as a page', async () => {
    const { url } = await serve({});
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toContain('jitkey_decisions_total');
  });
});

/**
 * Issue 24, item 13: behind NAT or a proxy every job is one address. The per-address limits
 * must stop what an attacker holds (silent, slow and idle connections) without resetting a
 * legitimate burst, and key on the client address: the peer, or what a trusted proxy reports.
 * The real app on loopback (and a real proxy in front of it); collaborators are in-process.
 */
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { APPROVER_CALLS_PER_MINUTE } from '../../exchanger/approvals/caller-budget.js';
import type { Approvals } from '../../exchanger/approvals/service.js';
import { JitkeyError } from '../../exchanger/errors.js';
import { createRefusalFold, type RefusalFold } from '../../exchanger/exchange/refusal-fold.js';
import { silentLogger } from '../../exchanger/log.js';
import { parseProxyTrust } from '../../exchanger/net/client-address.js';
import type { AppDeps } from '../../exchanger/server/app.js';
import { approvalRoutes } from '../../exchanger/server/approval-routes.js';
import type { AuditEntry } from '../../exchanger/store/audit-types.js';
import type { Store } from '../../exchanger/store/types.js';
import { startForwardingProxy } from '../support/forwarding-proxy.js';
import { capClosedLines, inertStore, serveLimitsApp, useCleanup } from '../support/limits-app.js';
import { firstStatus, type RawConnection, rawConnect, startSlowPost } from '../support/raw-http.js';

const ISSUER = 'https://token.actions.githubusercontent.com';
const store = inertStore;
const cleanup = useCleanup();

/** A mint that answers only once `gate` opens (tests hold every exchange in flight at once). */
function gatedMint(gate: () => Promise<void>, onEnter: () => void = () => {}) {
  return {
    github: {
      name: 'github' as const,
      mint: async () => {
        onEnter();
        await gate();
        return {
          credentials: { token: 'ghs_minted', permissions: {}, repositories: [] },
          expiresAt: new Date(Date.now() + 3_600_000),
        };
      },
    },
  };
}

function serve(deps: Partial<AppDeps> = {}) {
  return serveLimitsApp(
    cleanup,
    {
      verifier: () => ({
        verify: async (token: string) => {
          if (token === 'junk') throw new JitkeyError('invalid_token', 'the token is not a JWT');
          return {
            claims: { repository: 'acme/web', repository_id: '123456', run_id: '1', iss: ISSUER },
            jti: `jti-${Math.random()}`,
            issuer: ISSUER,
            expiresAt: new Date(Date.now() + 300_000),
          };
        },
      }),
      providers: gatedMint(async () => {}),
      ...deps,
    },
    // The backlog `jitkey serve` listens with: a thousand connections arrive at once.
    { backlog: 4096 },
  );
}

/** One exchange on its own connection; the status, or the socket error's code (ECONNRESET). */
function exchangeOnce(port: number, options: { localAddress?: string; token?: string } = {}) {
  return new Promise<number | string>((resolve) => {
    const body = JSON.stringify({ role: 'deploy' });
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/exchange',
        agent: false,
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        headers: {
          authorization: `Bearer ${options.token ?? 't'}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end(body);
  });
}

/**
 * `n` exchanges sent at once, every one held in the mint until all the others have arrived
 * there (or failed), so all `n` are open together: what a matrix of jobs does.
 */
async function burst(
  n: number,
  send: () => Promise<number | string>,
  serveWith: (d: Partial<AppDeps>) => Promise<unknown>,
) {
  let entered = 0;
  let failed = 0;
  let open!: () => void;
  const all = new Promise<void>((r) => (open = r));
  const check = () => {
    if (entered + failed >= n) open();
  };
  await serveWith({
    providers: gatedMint(
      () => all,
      () => {
        entered++;
        check();
      },
    ),
  });
  const results = await Promise.all(
    Array.from({ length: n }, () =>
      send().then((r) => {
        if (r !== 200) {
          failed++;
          check();
        }
        return r;
      }),
    ),
  );
  const tally: Record<string, number> = {};
  for (const r of results) tally[r] = (tally[r] ?? 0) + 1;
  return tally;
}

/** Connections from `localAddress` that send a POST head and one byte of a 100-byte body. */
async function holdSlowBodies(port: number, n: number, localAddress: string): Promise<RawConnection[]> {
  const conns: RawConnection[] = [];
  for (let i = 0; i < n; i++) {
    const conn = await rawConnect(port, { localAddress });
    startSlowPost(conn, '/v1/exchange', { declared: 100, sent: 1 });
    conns.push(conn);
  }
  cleanup.push(() => {
    for (const c of conns) c.socket.destroy();
  });
  return conns;
}

describe('a burst from one address (issue 24, item 13)', () => {
  it('answers 1,000 concurrent exchanges from one address, with the default limits, all 200', async () => {
    let port = 0;
    const tally = await burst(
      1000,
      () => exchangeOnce(port, { localAddress: '127.0.0.6' }),
      async (d) => ({ port } = await serve(d)),
    );
    expect(tally).toEqual({ 200: 1000 });
  });

  it('answers 1,000 concurrent exchanges through a trusted proxy, all 200', async () => {
    let proxyPort = 0;
    const tally = await burst(
      1000,
      () => exchangeOnce(proxyPort),
      async (d) => {
        const app = await serve({ ...d, proxyTrust: parseProxyTrust({ proxies: '127.0.0.1' }) });
        const proxy = await startForwardingProxy({ port: app.port });
        cleanup.push(proxy.stop);
        proxyPort = proxy.port;
      },
    );
    expect(tally).toEqual({ 200: 1000 });
  });

  it('still holds slow bodies from one address to its cap, while a burst from another gets through', async () => {
    const { port, url } = await serve({ limits: { maxConnectionsPerPeer: 4, connectionQueuePerPeer: 2 } });
    await holdSlowBodies(port, 6, '127.0.0.5');
    // Past the cap and its queue: closed at once, before a byte is read.
    const extra = await rawConnect(port, { localAddress: '127.0.0.5' });
    await extra.closed;
    expect(extra.received()).toBe('');
    const others = await Promise.all(
      Array.from({ length: 50 }, () => exchangeOnce(port, { localAddress: '127.0.0.7' })),
    );
    expect(others.every((s) => s === 200)).toBe(true);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('holds a client trickling bodies through a trusted proxy to the per-client cap; others get through', async () => {
    const app = await serve({
      limits: { maxConnectionsPerPeer: 3 },
      proxyTrust: parseProxyTrust({ proxies: '127.0.0.1' }),
    });
    const proxy = await startForwardingProxy({ port: app.port });
    cleanup.push(proxy.stop);
    const slow = await holdSlowBodies(proxy.port, 3, '127.0.0.5');
    // The proxy's connections are exempt from the connection cap, so the 4th reaches the app,
    // which counts bodies by the client the proxy names.
    const fourth = (await holdSlowBodies(proxy.port, 1, '127.0.0.5'))[0]!;
    expect(await firstStatus(fourth)).toBe(429);
    expect(fourth.received()).toMatch(/more than 3 requests from this address are still sending their body/);
    expect(slow.map((c) => c.received())).toEqual(['', '', '']);
    const others = await Promise.all(Array.from({ length: 20 }, () => exchangeOnce(proxy.port)));
    expect(others.every((s) => s === 200)).toBe(true);
  });
});

describe('IPv6 clients', () => {
  it('are counted by their /64: one host cannot take a new budget per address', async () => {
    const { port } = await serve({
      limits: { maxConnectionsPerPeer: 2 },
      proxyTrust: parseProxyTrust({ proxies: '127.0.0.1' }),
    });
    const trickle = async (client: string) => {
      const conn = await rawConnect(port);
      cleanup.push(() => void conn.socket.destroy());
      conn.socket.write(
        `POST /v1/exchange HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: ${client}\r\nContent-Length: 100\r\n\r\n{`,
      );
      return conn;
    };
    const held = [await trickle('2001:db8:1:2::1'), await trickle('2001:db8:1:2::2')];
    const third = await trickle('2001:db8:1:2::3');
    expect(await firstStatus(third)).toBe(429);
    const elsewhere = await trickle('2001:db8:1:3::1');
    elsewhere.socket.write('}'.padEnd(99, ' '));
    expect(await firstStatus(elsewhere)).toBe(401);
    expect(held.map((c) => c.received())).toEqual(['', '']);
  });
});

describe('what counts against the connection cap', () => {
  it('closes an idle keep-alive connection to let a new one in, rather than refusing it', async () => {
    const { port } = await serve({ limits: { maxConnectionsPerPeer: 2, connectionQueuePerPeer: 0 } });
    const idle: RawConnection[] = [];
    for (let i = 0; i < 2; i++) {
      const conn = await rawConnect(port, { localAddress: '127.0.0.8' });
      conn.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(await firstStatus(conn)).toBe(200);
      idle.push(conn);
    }
    cleanup.push(() => {
      for (const c of idle) c.socket.destroy();
    });
    const third = await rawConnect(port, { localAddress: '127.0.0.8' });
    third.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(await firstStatus(third)).toBe(200);
    // The longest idle one made room.
    await idle[0]!.closed;
    expect(idle[1]!.socket.destroyed).toBe(false);
    expect(await capClosedLines(port)).toContain(
      'jitkey_connections_closed_total{reason="idle_reclaimed"} 1',
    );
  });

  it('queues a connection past the cap and serves it once a held one delivers its request', async () => {
    const { port } = await serve({ limits: { maxConnectionsPerPeer: 2, connectionQueuePerPeer: 1 } });
    const silent = [
      await rawConnect(port, { localAddress: '127.0.0.9' }),
      await rawConnect(port, { localAddress: '127.0.0.9' }),
    ];
    cleanup.push(() => {
      for (const c of silent) c.socket.destroy();
    });
    const queued = await rawConnect(port, { localAddress: '127.0.0.9' });
    queued.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    // Past the cap and the queue of one: closed at once.
    const refused = await rawConnect(port, { localAddress: '127.0.0.9' });
    await refused.closed;
    expect(refused.received()).toBe('');
    expect(queued.received()).toBe('');
    silent[0]!.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await firstStatus(silent[0]!)).toBe(200);
    expect(await firstStatus(queued)).toBe(200);
    // The refused one is counted; the one admitted from the queue is not.
    expect(await capClosedLines(port)).toEqual(['jitkey_connections_closed_total{reason="queue_full"} 1']);
  });

  it('closes a connection that waits in the queue past the headers timeout, and counts it', async () => {
    const { port } = await serve({
      limits: { maxConnectionsPerPeer: 1, connectionQueuePerPeer: 1, headersTimeoutMs: 300 },
    });
    const silent = await rawConnect(port, { localAddress: '127.0.0.10' });
    cleanup.push(() => {
      silent.socket.destroy();
    });
    const queued = await rawConnect(port, { localAddress: '127.0.0.10' });
    await queued.closed;
    expect(queued.received()).toBe('');
    expect(await capClosedLines(port)).toEqual(['jitkey_connections_closed_total{reason="queue_timeout"} 1']);
  });
});

describe('in-flight slots', () => {
  it('a request over the in-flight limit waits for a slot instead of 429', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered = 0;
    const { port } = await serve({
      maxInFlight: 2,
      providers: gatedMint(
        () => gate,
        () => entered++,
      ),
    });
    const held = [exchangeOnce(port), exchangeOnce(port)];
    while (entered < 2) await new Promise((r) => setTimeout(r, 10));
    const third = exchangeOnce(port);
    // It is waiting, not refused: it enters the mint only after a slot frees.
    await new Promise((r) => setTimeout(r, 100));
    expect(entered).toBe(2);
    release();
    expect(await Promise.all([...held, third])).toEqual([200, 200, 200]);
  });

  it('answers 429 once the wait queue is full', async () => {
    let entered = 0;
    const { port } = await serve({
      maxInFlight: 1,
      limits: { inFlightQueue: 0 },
      providers: gatedMint(
        () => new Promise(() => {}),
        () => entered++,
      ),
    });
    void exchangeOnce(port);
    while (entered < 1) await new Promise((r) => setTimeout(r, 10));
    expect(await exchangeOnce(port)).toBe(429);
  });
});

describe('the client address', () => {
  /** The addresses the refusal fold was asked about (who it counts refusals by). */
  function watchedFold(): { fold: RefusalFold; subjects: string[] } {
    const real = createRefusalFold({ now: () => new Date(), requestId: () => 'req_x' });
    const subjects: string[] = [];
    return {
      subjects,
      fold: {
        admit: (subject, ...rest) => {
          subjects.push(subject);
          return real.admit(subject, ...rest);
        },
        due: real.due,
      },
    };
  }

  it('keys the approver-call budget behind a trusted proxy: one client spent, another not', async () => {
    const approvals = { list: async () => [] } as unknown as Approvals;
    const { url } = await serve({
      proxyTrust: parseProxyTrust({ proxies: '127.0.0.1' }),
      extraRoutes: approvalRoutes(approvals, silentLogger),
    });
    const list = (client: string) =>
      fetch(`${url}/v1/requests?status=pending`, {
        headers: { authorization: 'Bearer gho_x', 'x-forwarded-for': client },
      }).then((r) => r.status);
    for (let i = 0; i < APPROVER_CALLS_PER_MINUTE; i++) expect(await list('203.0.113.1')).toBe(200);
    expect(await list('203.0.113.1')).toBe(429);
    expect(await list('203.0.113.2')).toBe(200);
  });

  it('holds acknowledge to the budget when it answers asynchronously (the primary, with workers)', async () => {
    let acknowledged = 0;
    const approvals = {
      acknowledge: async () => {
        acknowledged++;
        return {};
      },
    } as unknown as Approvals;
    const overBudget = async () => {
      throw new JitkeyError('rate_limited', 'more than 120 approver calls a minute from this address', {
        retryAfter: 7,
      });
    };
    const { url } = await serve({
      extraRoutes: approvalRoutes(approvals, silentLogger, undefined, overBudget),
    });
    const res = await fetch(`${url}/v1/requests/req_1/acknowledge`, {
      method: 'POST',
      headers: { authorization: 'Bearer gho_x', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(acknowledged).toBe(0);
  });

  it('keys the approver-call budget of an IPv6 client on its /64, not on each address', async () => {
    const approvals = { list: async () => [] } as unknown as Approvals;
    const { url } = await serve({
      proxyTrust: parseProxyTrust({ proxies: '127.0.0.1' }),
      extraRoutes: approvalRoutes(approvals, silentLogger),
    });
    const list = (client: string) =>
      fetch(`${url}/v1/requests?status=pending`, {
        headers: { authorization: 'Bearer gho_x', 'x-forwarded-for': client },
      }).then((r) => r.status);
    // Each call from a new address of one /64: before, every one had its own 120.
    const statuses: number[] = [];
    for (let i = 1; i <= APPROVER_CALLS_PER_MINUTE + 1; i++)
      statuses.push(await list(`2001:db8:1:2::${i.toString(16)}`));
    expect(statuses.filter((s) => s === 200)).toHaveLength(APPROVER_CALLS_PER_MINUTE);
    expect(statuses.at(-1)).toBe(429);
    expect(await list('2001:db8:1:3::1')).toBe(200);
  });

  it('folds the refusals of an IPv6 client by its /64; each audit row keeps the full address', async () => {
    const { fold, subjects } = watchedFold();
    const rows: AuditEntry[] = [];
    const { url } = await serve({
      refusals: fold,
      store: { ...store, record: async (row: AuditEntry) => void rows.push(row) } as Store,
      proxyTrust: parseProxyTrust({ proxies: '127.0.0.1' }),
    });
    const junk = (client: string) =>
      fetch(`${url}/v1/exchange`, {
        method: 'POST',
        headers: {
          authorization: 'Bearer junk',
          'x-forwarded-for': client,
          'content-type': 'application/json',
        },
        body: '{}',
      }).then((r) => r.status);
    expect(await junk('2001:db8:1:2::1')).toBe(401);
    expect(await junk('2001:db8:1:2::2')).toBe(401);
    expect(await junk('2001:db8:1:3::1')).toBe(401);
    expect(subjects).toEqual(['2001:db8:1:2::/64', '2001:db8:1:2::/64', '2001:db8:1:3::/64']);
    // The second address of the first /64 was folded into its window: no row of its own.
    expect(rows.map((r) => r.clientAddress)).toEqual(['2001:db8:1:2::1', '2001:db8:1:3::1']);
  });

  it("is what a trusted proxy's X-Forwarded-For says; a forged one from an untrusted peer is ignored", async () => {
    const { fold, subjects } = watchedFold();
    const { port } = await serve({
      refusals: fold,
      proxyTrust: parseProxyTrust({ proxies: '127.0.0.1/32' }),
    });
    const junk = (localAddress: string, forwarded: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/v1/exchange',
            localAddress,
            agent: false,
            headers: { authorization: 'Bearer junk', 'x-forwarded-for': forwarded, 'content-length': 2 },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end('{}');
      });
    expect(await junk('127.0.0.1', '198.51.100.7, 203.0.113.9')).toBe(401);
    expect(await junk('127.0.0.12', '203.0.113.10')).toBe(401);
    expect(subjects).toEqual(['203.0.113.9', '127.0.0.12']);
  });
});

/**
 * The HTTP surface under an unauthenticated client that holds connections open (issue 16, item 1):
 * requests whose body never arrives must not take the in-flight slots that real jobs and the
 * probes need. The real app on a loopback port; collaborators are in-process fakes.
 */
import { describe, expect, it } from 'vitest';
import type { AppDeps } from '../../exchanger/server/app.js';
import { capClosedLines, serveLimitsApp, useCleanup } from '../support/limits-app.js';
import { firstStatus, type RawConnection, rawConnect, startSlowPost } from '../support/raw-http.js';

const cleanup = useCleanup();
const serve = (deps: Partial<AppDeps> = {}) => serveLimitsApp(cleanup, deps);

async function holdSlowBodies(port: number, n: number, localAddress?: string): Promise<RawConnection[]> {
  const conns: RawConnection[] = [];
  for (let i = 0; i < n; i++) {
    const conn = await rawConnect(port, localAddress ? { localAddress } : {});
    startSlowPost(conn, '/v1/exchange', { declared: 100, sent: 1 });
    conns.push(conn);
  }
  cleanup.push(() => {
    for (const c of conns) c.socket.destroy();
  });
  // The server has read each head once every connection is known to it: a probe on a fresh
  // connection is answered only after the earlier ones were accepted (one accept queue).
  await fetch(`http://127.0.0.1:${port}/healthz`);
  return conns;
}

describe('in-flight slots (issue 16, item 1)', () => {
  it('does not count a request whose body has not arrived: jobs and probes still get through', async () => {
    const { port, url } = await serve({ maxInFlight: 4 });
    await holdSlowBodies(port, 6);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
    const res = await fetch(`${url}/v1/exchange`, {
      method: 'POST',
      headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'deploy' }),
    });
    expect(res.status).toBe(200);
  });

  it('answers the probes even when every slot is taken by requests in progress', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered = 0;
    const { url } = await serve({
      maxInFlight: 2,
      limits: { inFlightQueue: 0 },
      providers: {
        github: {
          name: 'github',
          mint: async () => {
            entered++;
            await gate;
            return { credentials: {}, expiresAt: new Date(Date.now() + 60_000) };
          },
        },
      },
    });
    const post = () =>
      fetch(`${url}/v1/exchange`, {
        method: 'POST',
        headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
        body: JSON.stringify({ role: 'deploy' }),
      });
    const held = [post(), post()];
    while (entered < 2) await new Promise((r) => setTimeout(r, 10));
    expect((await post()).status).toBe(429);
    for (const probe of ['/healthz', '/readyz', '/metrics']) {
      expect((await fetch(`${url}${probe}`)).status, probe).toBe(200);
    }
    release();
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200]);
  });

  it('cuts a body that does not arrive within the body timeout, closing the connection', async () => {
    const { port } = await serve({ limits: { bodyTimeoutMs: 200 } });
    const conn = await rawConnect(port);
    startSlowPost(conn, '/v1/exchange', { declared: 100, sent: 1 });
    expect(await firstStatus(conn)).toBe(408);
    await conn.closed;
    expect(conn.received()).toMatch(/"error":"request_timeout"/);
  });
});

describe('connections per peer (issue 16, item 1)', () => {
  it('closes connections past the per-peer cap and its queue at once; other peers are unaffected', async () => {
    const { port } = await serve({ limits: { maxConnectionsPerPeer: 3, connectionQueuePerPeer: 0 } });
    await holdSlowBodies(port, 3, '127.0.0.5');
    const extra = await rawConnect(port, { localAddress: '127.0.0.5' });
    await extra.closed;
    expect(extra.received()).toBe('');
    const other = await rawConnect(port, { localAddress: '127.0.0.6' });
    other.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(await firstStatus(other)).toBe(200);
    // An operator sees what the cap closed: a closed connection says nothing to the client.
    expect(await capClosedLines(port)).toContain('jitkey_connections_closed_total{reason="queue_full"} 1');
  });
});

describe('probes and bodies (issue 16, items 11 and 16)', () => {
  it.each(['/healthz', '/readyz', '/metrics'])('answers HEAD %s like GET, without a body', async (path) => {
    const { url } = await serve();
    const res = await fetch(`${url}${path}`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it('refuses an oversize chunked body and closes the connection instead of draining it', async () => {
    const { port } = await serve();
    const conn = await rawConnect(port);
    conn.socket.write(
      'POST /v1/exchange HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nTransfer-Encoding: chunked\r\n\r\n',
    );
    const chunk = 'x'.repeat(8 * 1024);
    for (let i = 0; i < 3; i++) conn.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    expect(await firstStatus(conn)).toBe(400);
    await conn.closed;
    expect(conn.received()).toMatch(/connection: close/i);
    expect(conn.received()).toMatch(/exceeds 16 KiB/);
  });

  it('refuses a declared oversize body and closes the connection', async () => {
    const { port } = await serve();
    const conn = await rawConnect(port);
    startSlowPost(conn, '/v1/exchange', { declared: 10_000_000, sent: 10 });
    expect(await firstStatus(conn)).toBe(400);
    await conn.closed;
  });
});

describe('echoed request text', () => {
  it('quotes and cuts an unknown path in the answer', async () => {
    const { url } = await serve();
    const res = await fetch(`${url}/${'p'.repeat(20_000)}`, { method: 'POST' });
    expect(res.status).toBe(404);
    const body = (await res.json()) as { message: string };
    expect(body.message).toMatch(/^no route for 'POST' '\/p+…'$/);
    expect(body.message.length).toBeLessThan(200);
  });
});

describe('webhook bodies (read before their signature can be checked)', () => {
  const MiB = 1024 * 1024;
  /** The head of a webhook delivery announcing `declared` bytes, of which none are sent. */
  function deliveryHead(conn: RawConnection, declared: number, headers: Record<string, string>): void {
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
    conn.socket.write(
      `POST /v1/github/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${lines.join('')}Content-Length: ${declared}\r\n\r\n`,
    );
  }
  // Well-formed (64 hex digits) but wrong: a malformed signature is refused before anything else.
  const signed = { 'X-GitHub-Event': 'workflow_run', 'X-Hub-Signature-256': `sha256=${'0'.repeat(64)}` };

  it('answers 404 before reading a body when the webhook is not enabled', async () => {
    const { port } = await serve({ limits: { bodyTimeoutMs: 5_000 } });
    const conn = await rawConnect(port);
    deliveryHead(conn, 24 * MiB, signed);
    expect(await firstStatus(conn)).toBe(404);
    await conn.closed;
  });

  it('answers 401 to a delivery without a signature, and 204 to other events, before reading', async () => {
    const { port } = await serve({ webhookSecret: 'whsec', limits: { bodyTimeoutMs: 5_000 } });
    const unsigned = await rawConnect(port);
    deliveryHead(unsigned, 24 * MiB, { 'X-GitHub-Event': 'workflow_run' });
    expect(await firstStatus(unsigned)).toBe(401);
    const ping = await rawConnect(port);
    deliveryHead(ping, 24 * MiB, { ...signed, 'X-GitHub-Event': 'ping' });
    expect(await firstStatus(ping)).toBe(204);
    await Promise.all([unsigned.closed, ping.closed]);
  });

  it('charges the body budget for bytes received, not for a declared Content-Length', async () => {
    const { port } = await serve({ webhookSecret: 'whsec', limits: { bodyTimeoutMs: 5_000 } });
    const held: RawConnection[] = [];
    // Three heads declaring 75 MiB in all, none of it sent: before, they reserved the whole budget.
    for (let i = 0; i < 3; i++) {
      const conn = await rawConnect(port);
      deliveryHead(conn, 25 * MiB, signed);
      held.push(conn);
    }
    cleanup.push(() => {
      for (const c of held) c.socket.destroy();
    });
    await fetch(`http://127.0.0.1:${port}/healthz`); // the heads have been read
    // A delivery of GitHub's usual size is read in full and judged by its signature, not turned away.
    const small = await rawConnect(port);
    deliveryHead(small, 1 * MiB, signed);
    small.socket.write('x'.repeat(1 * MiB));
    expect(await firstStatus(small)).toBe(401);
  });
});

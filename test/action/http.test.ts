/**
 * The transport itself (src/transport/http.ts, early.ts and call.ts), against loopback servers:
 * one connection per host, kept alive and reused, opened early when asked; each attempt's timeout covers a server that never
 * answers and one that stalls mid-body; answers over the cap are refused, whether they announce
 * their length or not, with a message naming the call.
 */
import { readFileSync } from 'node:fs';
import { Agent, createServer, type Server } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange } from '../../src/client/exchanger.js';
import { ActionError } from '../../src/shared/errors.js';
import { call } from '../../src/transport/call.js';
import { earlyConnections } from '../../src/transport/early.js';
import { createTransport, MAX_RESPONSE_BYTES, type Transport } from '../../src/transport/http.js';
import { startTlsFront, TEST_CA } from '../support/tls-front.js';
import { fakeCore, fakeDeps } from './fakes.js';

interface Served {
  url: URL;
  /** Every connection the server accepted, in order. */
  connections: Socket[];
}

const servers: Server[] = [];
let transport: Transport | undefined;
afterEach(async () => {
  transport?.close();
  transport = undefined;
  await Promise.all(
    servers.splice(0).map((s) => {
      s.closeAllConnections();
      return new Promise<void>((resolve) => s.close(() => resolve()));
    }),
  );
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<Served> {
  const server = createServer(handler);
  const connections: Socket[] = [];
  server.on('connection', (socket) => connections.push(socket));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x`), connections };
}

const get = (url: URL, signal = AbortSignal.timeout(10_000)) => {
  transport ??= createTransport({});
  return transport.send({ method: 'GET', url, headers: { accept: 'application/json' }, signal });
};

describe('the transport', () => {
  it('keeps one connection per host and reuses it for every request', async () => {
    const seen: Array<string | undefined> = [];
    const a = await serve((req, res) => {
      seen.push(req.headers.connection);
      res.end('{"ok":true}');
    });
    const b = await serve((_req, res) => res.end('{"b":true}'));
    expect(await get(a.url)).toMatchObject({ status: 200, body: '{"ok":true}' });
    await get(a.url);
    await get(b.url);
    // Two at once still share the one connection: the second waits for the first.
    await Promise.all([get(a.url), get(a.url)]);
    expect(seen).toEqual(['keep-alive', 'keep-alive', 'keep-alive', 'keep-alive']);
    expect(a.connections).toHaveLength(1);
    expect(b.connections).toHaveLength(1);
  });

  it('opens a new connection when the server closed the old one', async () => {
    const a = await serve((_req, res) => res.writeHead(200, { connection: 'close' }).end('{}'));
    await get(a.url);
    await get(a.url);
    expect(a.connections).toHaveLength(2);
  });

  it('preconnect opens the one connection the first request then uses', async () => {
    const ports: Array<number | undefined> = [];
    const a = await serve((req, res) => {
      ports.push(req.socket.remotePort);
      res.end('{}');
    });
    transport = createTransport({});
    const accepted = new Promise<void>((resolve) => servers[0]!.once('connection', () => resolve()));
    transport.preconnect(a.url);
    transport.preconnect(a.url); // once per host
    await accepted;
    await get(a.url);
    await get(a.url);
    expect(a.connections).toHaveLength(1);
    expect(ports).toEqual([a.connections[0]!.remotePort, a.connections[0]!.remotePort]);
  });

  // A step that failed first closes its transport before, or just after, its preconnect runs.
  it.each([
    { order: 'close() then preconnect', preconnectFirst: false },
    { order: 'preconnect then close() at once', preconnectFirst: true },
  ])('opens nothing after close(): $order', async ({ preconnectFirst }) => {
    const a = await serve((_req, res) => res.end('{}'));
    const closing = createTransport({});
    if (preconnectFirst) closing.preconnect(a.url);
    closing.close();
    if (!preconnectFirst) closing.preconnect(a.url);
    // Any connection it opened would be asked for before this request's own.
    await new Promise((resolve) => setImmediate(resolve));
    await get(a.url);
    expect(a.connections).toHaveLength(1);
  });

  it('opens an early connection with the options the agent opens its own with', async () => {
    const a = await serve((_req, res) => res.end('{}'));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const opened: Array<Record<string, unknown>> = [];
    const own = agent.createConnection.bind(agent);
    agent.createConnection = (options, created) => {
      opened.push({ ...options });
      return own(options, created);
    };
    const early = earlyConnections(agent);
    const accepted = new Promise<void>((resolve) => servers[0]!.once('connection', () => resolve()));
    early.open(a.url);
    await accepted;
    early.close();
    agent.destroy();
    expect(opened).toEqual([
      expect.objectContaining({ noDelay: true, keepAlive: true, port: Number(a.url.port) }),
    ]);
  });

  it('turns Nagle off on https connections, early or not (node 20 drops the agent option)', async () => {
    const a = await serve((_req, res) => res.end('{}'));
    const fronts = await Promise.all([startTlsFront(Number(a.url.port)), startTlsFront(Number(a.url.port))]);
    // The test certificate names jitkey.test; these connections go to 127.0.0.1 (the chain is
    // still checked against the test CA).
    const agent = new HttpsAgent({
      keepAlive: true,
      maxSockets: 1,
      ca: readFileSync(TEST_CA),
      checkServerIdentity: () => undefined,
    });
    try {
      const early = earlyConnections(agent);
      const urls = fronts.map((f) => new URL(`https://127.0.0.1:${f.port}/x`));
      early.open(urls[0]!); // the second is opened by the request itself
      const sockets = await Promise.all(
        urls.map(
          (url) =>
            new Promise<Socket>((resolve, reject) =>
              httpsRequest(url, { agent }, (res) => {
                res.resume();
                resolve(res.socket);
              })
                .on('error', reject)
                .end(),
            ),
        ),
      );
      // What `setNoDelay` records: no public getter reads TCP_NODELAY back.
      const noDelay = (socket: Socket) => {
        const key = Object.getOwnPropertySymbols(socket).find((k) => k.description === 'kSetNoDelay');
        expect(key).toBeDefined();
        return (socket as unknown as Record<symbol, unknown>)[key!];
      };
      expect(sockets.map(noDelay)).toEqual([true, true]);
    } finally {
      agent.destroy();
      await Promise.all(fronts.map((f) => f.stop()));
    }
  });

  it('replaces an early connection the server closed before the first request', async () => {
    const a = await serve((_req, res) => res.end('{"ok":true}'));
    const closed = new Promise<void>((resolve) =>
      servers[0]!.once('connection', (socket) => {
        socket.once('close', () => resolve());
        socket.destroy();
      }),
    );
    transport = createTransport({});
    transport.preconnect(a.url);
    await closed;
    // The closed connection is not used (or, if its close is still on its way, the attempt on it
    // fails and the retry opens a new one): either way the call gets its answer.
    const deps = { ...fakeDeps(fakeCore()), send: transport.send };
    const answer = await call(deps, { retries: 1, label: 'the test server' }, () => ({
      method: 'GET',
      url: a.url,
      headers: {},
    }));
    expect(answer.body).toBe('{"ok":true}');
    expect(a.connections).toHaveLength(2);
  });

  it('close() ends the pooled connections', async () => {
    const a = await serve((_req, res) => res.end('{}'));
    await get(a.url);
    const closed = new Promise<void>((resolve) => a.connections[0]!.once('close', () => resolve()));
    transport!.close();
    await closed;
    expect(a.connections[0]!.destroyed).toBe(true);
  });

  it.each([
    { name: 'announced by Content-Length', chunked: false },
    { name: 'sent without a length', chunked: true },
  ])('refuses an answer over the cap, $name, naming the call', async ({ chunked }) => {
    const a = await serve((_req, res) => {
      if (chunked) {
        res.write(Buffer.alloc(MAX_RESPONSE_BYTES, 'a'));
        res.end('a');
      } else {
        res.end(Buffer.alloc(MAX_RESPONSE_BYTES + 1, 'a'));
      }
    });
    const deps = fakeDeps(fakeCore());
    const error = await call(deps, { retries: 2, label: 'the test server' }, () => ({
      method: 'GET',
      url: a.url,
      headers: {},
    })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ActionError);
    expect((error as ActionError).code).toBe('bad_response');
    expect((error as ActionError).message).toBe(
      `The test server answered 200 with more than ${MAX_RESPONSE_BYTES} bytes; an answer that large is not its own: check the URL`,
    );
    // Not retried: the same address would send the same answer.
    expect(deps.sleeps).toEqual([]);
  });

  it("refuses an exchanger's oversize answer by the exchanger's name", async () => {
    const a = await serve((_req, res) => res.end(Buffer.alloc(MAX_RESPONSE_BYTES + 1, '{')));
    const deps = fakeDeps(fakeCore());
    const baseUrl = new URL(`${a.url.origin}/`);
    const error = await exchange(deps, { baseUrl, retries: 3 }, async () => 'jwt', { role: 'deploy' }).catch(
      (e: unknown) => e,
    );
    expect((error as ActionError).message).toMatch(
      /^The exchanger at http:\/\/127\.0\.0\.1:\d+ answered 200 with more than 1048576 bytes/,
    );
  });

  it('takes an answer of exactly the cap', async () => {
    const a = await serve((_req, res) => res.end(Buffer.alloc(MAX_RESPONSE_BYTES, 'a')));
    expect((await get(a.url)).body).toHaveLength(MAX_RESPONSE_BYTES);
  });

  it.each([
    { name: 'no answer at all', stall: 'headers' },
    { name: 'headers, then a body that never ends', stall: 'body' },
  ])('times out on $name', async ({ stall }) => {
    const a = await serve((_req, res) => {
      if (stall === 'body') res.writeHead(200, { 'content-length': '100' }).write('{"partial":');
    });
    const deps = fakeDeps(fakeCore());
    const error = await call(deps, { retries: 1, label: 'the test server', timeoutMs: 300 }, () => ({
      method: 'GET',
      url: a.url,
      headers: {},
    })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ActionError);
    expect((error as ActionError).message).toBe(
      'Could not reach the test server after 2 attempts: no answer within the timeout',
    );
  });
});

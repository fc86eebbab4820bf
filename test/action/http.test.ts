/**
 * The transport itself (src/http.ts): one connection per request, closed after the answer; the
 * retry loop's timeout covers a server that never answers and one that stalls mid-body; answers
 * over the cap are refused.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ActionError } from '../../src/errors.js';
import { createSend, MAX_RESPONSE_BYTES } from '../../src/http.js';
import { withRetries } from '../../src/retry.js';
import { fakeCore, fakeDeps } from './fakes.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<URL> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x`);
}

const send = createSend({});
const get = (url: URL, signal = AbortSignal.timeout(10_000)) =>
  send({ method: 'GET', url, headers: { accept: 'application/json' }, signal });

describe('createSend', () => {
  it('asks for the connection to be closed and uses a new one for every request', async () => {
    const seen: Array<{ connection: string | undefined; port: number | undefined }> = [];
    const url = await serve((req, res) => {
      seen.push({ connection: req.headers.connection, port: req.socket.remotePort });
      res.end('{"ok":true}');
    });
    const first = await get(url);
    await get(url);
    expect(first).toMatchObject({ status: 200, body: '{"ok":true}' });
    expect(seen.map((s) => s.connection)).toEqual(['close', 'close']);
    expect(seen[0]!.port).not.toBe(seen[1]!.port);
  });

  it('refuses an answer larger than the cap', async () => {
    const url = await serve((_req, res) => res.end(Buffer.alloc(MAX_RESPONSE_BYTES + 1, 'a')));
    const error = await get(url).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ActionError);
    expect((error as ActionError).code).toBe('bad_response');
  });

  it.each([
    { name: 'no answer at all', stall: 'headers' },
    { name: 'headers, then a body that never ends', stall: 'body' },
  ])('times out on $name', async ({ stall }) => {
    const url = await serve((_req, res) => {
      if (stall === 'body') res.writeHead(200, { 'content-length': '100' }).write('{"partial":');
    });
    const deps = fakeDeps(fakeCore());
    const error = await withRetries(
      deps,
      { retries: 1, label: 'the test server', timeoutMs: 300 },
      (signal) => get(url, signal),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ActionError);
    expect((error as ActionError).message).toBe(
      'Could not reach the test server after 2 attempts: no answer within the timeout',
    );
  });
});

/**
 * The built main step's connections (issue 23 item 5): one per host, reused by a retry, and none
 * left to hold the process once the credentials are written. The token endpoint and the exchanger
 * here keep idle connections open for ten minutes: a step whose socket held it open would not
 * exit before the test's safety net, and the test would fail.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { actionNodes, actionRunner, errors } from '../support/runner.js';
import { startTlsFront, TEST_CA, type TlsFront } from '../support/tls-front.js';
import { AWS_LEASE, fakeJwt } from './fakes.js';

interface Host {
  url: string;
  connections: number;
  requests: string[];
}

const servers: Server[] = [];
const fronts: TlsFront[] = [];
afterEach(async () => {
  await Promise.all(fronts.splice(0).map((f) => f.stop()));
  await Promise.all(
    servers.splice(0).map((s) => {
      s.closeAllConnections();
      return new Promise<void>((resolve) => s.close(() => resolve()));
    }),
  );
});

/** A loopback server that never closes an idle connection first; `answer` per request. */
async function host(answer: (path: string, n: number) => { status: number; body: unknown }): Promise<Host> {
  const h: Host = { url: '', connections: 0, requests: [] };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      h.requests.push(`${req.method} ${req.url}`);
      const { status, body } = answer(req.url ?? '', h.requests.length);
      // Retry-After: 0 makes the step's retry immediate.
      res.writeHead(status, { 'content-type': 'application/json', 'retry-after': '0' });
      res.end(JSON.stringify(body));
    });
  });
  server.keepAliveTimeout = 600_000;
  server.on('connection', () => h.connections++);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  h.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return h;
}

describe.each(actionNodes())('the main step on $name', (node) => {
  const { runMain } = actionRunner(node.path);

  it('uses one connection per host, retries on it, and exits with its idle sockets open', async () => {
    const tokens = await host(() => ({ status: 200, body: { value: fakeJwt({ aud: 'jitkey' }) } }));
    // The first exchange is refused with a 503: the retry spends a new token, on the same connections.
    const exchanger = await host((_path, n) =>
      n === 1 ? { status: 503, body: { error: 'unavailable' } } : { status: 200, body: AWS_LEASE },
    );
    const main = await runMain({
      inputs: { 'exchanger-url': exchanger.url, role: 'deploy-web-prod' },
      env: {
        ACTIONS_ID_TOKEN_REQUEST_URL: `${tokens.url}/token?api-version=2.0`,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'rt',
      },
    });
    expect(errors(main)).toEqual([]);
    expect(main.exitCode).toBe(0);
    expect(main.env.AWS_ACCESS_KEY_ID).toBe(AWS_LEASE.credentials.access_key_id);
    expect(exchanger.requests).toEqual(['POST /v1/exchange', 'POST /v1/exchange']);
    expect(tokens.requests).toHaveLength(2);
    expect({ exchanger: exchanger.connections, tokens: tokens.connections }).toEqual({
      exchanger: 1,
      tokens: 1,
    });
  });

  it('over https, opens one TLS connection per host (the early one included) and exits', async () => {
    const tokens = await host(() => ({ status: 200, body: { value: fakeJwt({ aud: 'jitkey' }) } }));
    const exchanger = await host(() => ({ status: 200, body: AWS_LEASE }));
    // Each TLS connection to a front is one plain connection to its host: the hosts count them.
    const [exchangerTls, tokensTls] = await Promise.all(
      [exchanger, tokens].map((h) => startTlsFront(Number(new URL(h.url).port))),
    );
    fronts.push(exchangerTls!, tokensTls!);
    const main = await runMain({
      inputs: { 'exchanger-url': `https://127.0.0.1:${exchangerTls!.port}`, role: 'deploy-web-prod' },
      env: {
        ACTIONS_ID_TOKEN_REQUEST_URL: `https://127.0.0.1:${tokensTls!.port}/token?api-version=2.0`,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'rt',
        NODE_EXTRA_CA_CERTS: TEST_CA,
      },
    });
    expect(errors(main)).toEqual([]);
    expect(main.exitCode).toBe(0);
    expect(main.env.AWS_ACCESS_KEY_ID).toBe(AWS_LEASE.credentials.access_key_id);
    expect({ exchanger: exchanger.requests, tokens: tokens.requests.length }).toEqual({
      exchanger: ['POST /v1/exchange'],
      tokens: 1,
    });
    expect({ exchanger: exchanger.connections, tokens: tokens.connections }).toEqual({
      exchanger: 1,
      tokens: 1,
    });
  });
});

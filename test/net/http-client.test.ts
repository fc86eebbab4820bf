/**
 * The exchanger's HTTP client core against real loopback servers (http, and https with the test
 * CA): each property of `net/http-client.ts` through both transports where it applies.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { describe, expect, it } from 'vitest';
import {
  fetchTransport,
  HttpError,
  httpCall,
  nodeTransport,
  type Transport,
} from '../../exchanger/net/http-client.js';
import { closedPort, useLoopbackServers } from '../support/loopback-servers.js';
import { rejectionOf } from '../support/rejection.js';

const tls = (name: string) => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url), 'utf8');

const listen = useLoopbackServers();

/** A loopback server; `seen` counts the requests it got, with their headers. */
async function serve(
  handler: (req: IncomingMessage, res: ServerResponse, n: number) => void,
  https = false,
): Promise<{ url: string; seen: IncomingMessage[] }> {
  const seen: IncomingMessage[] = [];
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    seen.push(req);
    handler(req, res, seen.length);
  };
  const server = https
    ? createHttpsServer({ cert: tls('server.pem'), key: tls('server-key.pem') }, onRequest)
    : createServer(onRequest);
  const port = await listen(server);
  return { url: `${https ? 'https' : 'http'}://127.0.0.1:${port}`, seen };
}

/** A loopback URL whose port was just free: a server listened there and has closed. */
async function nothingListening(): Promise<{ url: string }> {
  return { url: `http://127.0.0.1:${await closedPort()}` };
}

const failure = (p: Promise<unknown>): Promise<HttpError> => rejectionOf(p, HttpError);

const transports: [string, Transport][] = [
  ['fetch', fetchTransport()],
  ['node:http', nodeTransport()],
];

describe.each(transports)('httpCall over %s', (_, transport) => {
  it('answers with the status, headers and body, and sends the method, headers and body', async () => {
    const up = await serve((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => res.writeHead(201, { 'x-echo': body }).end('{"ok":true}'));
    });
    const answer = await httpCall(
      {
        name: 'the echo',
        method: 'DELETE',
        url: `${up.url}/x?y=1`,
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      },
      transport,
    );
    expect([answer.status, answer.ok, answer.header('x-echo'), answer.json()]).toEqual([
      201,
      true,
      '{"a":1}',
      { ok: true },
    ]);
    expect([up.seen[0]!.method, up.seen[0]!.url, up.seen[0]!.headers['user-agent']]).toEqual([
      'DELETE',
      '/x?y=1',
      'jitkey',
    ]);
  });

  it('gives up on an answer that does not come in time, naming the call', async () => {
    const up = await serve(() => {
      // never answers
    });
    const err = await failure(
      httpCall({ name: 'PagerDuty GET /oncalls', method: 'GET', url: up.url, timeoutMs: 200 }, transport),
    );
    expect([err.failure, err.call, err.message]).toEqual([
      'timeout',
      'PagerDuty GET /oncalls',
      'PagerDuty GET /oncalls failed: no answer within 0.2 s',
    ]);
  });

  it('gives up on a body that stops halfway', async () => {
    const up = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('{"partial":');
    });
    const err = await failure(
      httpCall({ name: 'slow', method: 'GET', url: up.url, timeoutMs: 200 }, transport),
    );
    expect(err.failure).toBe('timeout');
  });

  it('refuses an answer over the size limit, declared or streamed', async () => {
    const declared = await serve((_req, res) =>
      res.writeHead(200, { 'content-length': '2048' }).end('x'.repeat(2048)),
    );
    const streamed = await serve((_req, res) => {
      res.writeHead(200);
      for (let i = 0; i < 8; i++) res.write('y'.repeat(512));
      res.end();
    });
    for (const up of [declared, streamed]) {
      const err = await failure(
        httpCall({ name: 'big', method: 'GET', url: up.url, maxBytes: 1024 }, transport),
      );
      expect([err.failure, err.message]).toEqual(['too_large', 'big failed: the answer is over 1024 bytes']);
    }
    const fits = await httpCall(
      { name: 'fits', method: 'GET', url: declared.url, maxBytes: 2048 },
      transport,
    );
    expect(fits.body.length).toBe(2048);
  });

  it('refuses a redirect and never follows it', async () => {
    const elsewhere = await serve((_req, res) => res.end('followed'));
    const up = await serve((_req, res) => res.writeHead(302, { location: elsewhere.url }).end());
    const err = await failure(
      httpCall({ name: 'the notify URL', method: 'POST', url: up.url, body: '{}' }, transport),
    );
    expect([err.failure, err.status, err.message]).toEqual([
      'redirect',
      302,
      'the notify URL answered HTTP 302, a redirect, which is not followed',
    ]);
    expect(elsewhere.seen).toHaveLength(0);
  });

  it('names the call when nothing listens', async () => {
    const up = await nothingListening();
    const err = await failure(httpCall({ name: `GET ${up.url}`, method: 'GET', url: up.url }, transport));
    expect(err.failure).toBe('unreachable');
    expect(err.message).toMatch(new RegExp(`^GET ${up.url} failed: .*ECONNREFUSED`));
  });

  it('drops the body unread when asked, and still says the status', async () => {
    const up = await serve((_req, res) => res.writeHead(500).end('x'.repeat(10_000)));
    const answer = await httpCall(
      { name: 'notify', method: 'POST', url: up.url, body: '{}', readBody: false, maxBytes: 10 },
      transport,
    );
    expect([answer.status, answer.ok, answer.body.length]).toEqual([500, false, 0]);
  });

  it('says a body is not JSON, naming the call and the status', async () => {
    const up = await serve((_req, res) => res.writeHead(502).end('<html>bad gateway</html>'));
    const answer = await httpCall({ name: 'GET /oncalls', method: 'GET', url: up.url }, transport);
    const err = (() => {
      try {
        answer.json();
      } catch (e) {
        return e as HttpError;
      }
      throw new Error('json() parsed HTML');
    })();
    expect([err.failure, err.message]).toEqual(['not_json', 'GET /oncalls did not return JSON (HTTP 502)']);
  });
});

describe('httpCall retries', () => {
  /** Records the waits instead of waiting. */
  const clock = () => {
    const waits: number[] = [];
    return { waits, sleep: async (ms: number) => void waits.push(ms), random: () => 0.5, now: () => 0 };
  };

  it('waits what Retry-After asks when it is longer than the backoff, then succeeds', async () => {
    const up = await serve((_req, res, n) => {
      if (n === 1) res.writeHead(503, { 'retry-after': '2' }).end();
      else if (n === 2) res.writeHead(429, { 'retry-after': 'Thu, 01 Jan 1970 00:00:03 GMT' }).end();
      else res.end('done');
    });
    const c = clock();
    const answer = await httpCall({
      name: 'busy',
      method: 'GET',
      url: up.url,
      retry: { tries: 3, baseMs: 100, maxMs: 1000, ...c },
    });
    expect([answer.status, answer.text(), up.seen.length]).toEqual([200, 'done', 3]);
    expect(c.waits).toEqual([2000, 3000]);
  });

  it('waits the backoff when the answer names no Retry-After', async () => {
    const up = await serve((_req, res, n) => res.writeHead(n === 1 ? 502 : 200).end());
    const c = clock();
    await httpCall({
      name: 'x',
      method: 'GET',
      url: up.url,
      retry: { tries: 2, baseMs: 100, maxMs: 1000, ...c },
    });
    expect(c.waits).toEqual([50]);
  });

  it('does not wait a Retry-After beyond its limit: the answer is returned as it is', async () => {
    const up = await serve((_req, res) => res.writeHead(503, { 'retry-after': '3600' }).end('later'));
    const c = clock();
    const answer = await httpCall({
      name: 'x',
      method: 'GET',
      url: up.url,
      retry: { tries: 3, baseMs: 100, maxMs: 1000, maxRetryAfterMs: 60_000, ...c },
    });
    expect([answer.status, answer.text(), up.seen.length, c.waits]).toEqual([503, 'later', 1, []]);
  });

  it('returns the last busy answer when the attempts run out', async () => {
    const up = await serve((_req, res) => res.writeHead(503).end());
    const c = clock();
    const answer = await httpCall({
      name: 'x',
      method: 'GET',
      url: up.url,
      retry: { tries: 3, baseMs: 10, maxMs: 10, ...c },
    });
    expect([answer.status, up.seen.length, c.waits.length]).toEqual([503, 3, 2]);
  });

  it('does not retry a refusal (4xx other than 429) nor a redirect', async () => {
    const refusing = await serve((_req, res) => res.writeHead(403).end());
    const redirecting = await serve((_req, res) => res.writeHead(307, { location: '/' }).end());
    const c = clock();
    const retryPolicy = { tries: 3, baseMs: 10, maxMs: 10, ...c };
    expect((await httpCall({ name: 'x', method: 'GET', url: refusing.url, retry: retryPolicy })).status).toBe(
      403,
    );
    await failure(httpCall({ name: 'x', method: 'GET', url: redirecting.url, retry: retryPolicy }));
    expect([refusing.seen.length, redirecting.seen.length, c.waits]).toEqual([1, 1, []]);
  });

  it('retries a connection refused, and says so after the last attempt', async () => {
    const up = await nothingListening();
    const c = clock();
    const err = await failure(
      httpCall({
        name: 'gone',
        method: 'GET',
        url: up.url,
        retry: { tries: 3, baseMs: 10, maxMs: 10, ...c },
      }),
    );
    expect([err.failure, c.waits.length]).toEqual(['unreachable', 2]);
  });
});

describe('nodeTransport with TLS options', () => {
  it('trusts the CA it is given, and only that', async () => {
    const up = await serve((_req, res) => res.end('{"kind":"Status"}'), true);
    const answer = await httpCall(
      { name: 'kube', method: 'GET', url: up.url },
      nodeTransport({ ca: tls('ca.pem') }),
    );
    expect(answer.json()).toEqual({ kind: 'Status' });
    // Without it, the system CAs do not know the test CA: the TLS handshake fails, named.
    const err = await failure(httpCall({ name: 'kube', method: 'GET', url: up.url }, nodeTransport()));
    expect(err.failure).toBe('unreachable');
    expect(err.message).toMatch(/^kube failed: .*(self.signed|unable to verify|local issuer)/i);
  });
});

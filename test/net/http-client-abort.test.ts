/**
 * The HTTP client core's `signal` (`net/http-client.ts`) against loopback servers that never
 * finish: an abort ends the call wherever it is (connecting, waiting for the headers, reading the
 * body, waiting to retry), as an `aborted` HttpError naming the call, through both transports.
 * Each abort is triggered by the step it interrupts, never by a clock.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  fetchTransport,
  HttpError,
  httpCall,
  nodeTransport,
  type Transport,
} from '../../exchanger/net/http-client.js';
import { useLoopbackServers } from '../support/loopback-servers.js';
import { rejectionOf } from '../support/rejection.js';

const listen = useLoopbackServers();

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  return `http://127.0.0.1:${await listen(createServer(handler))}`;
}

/** A TCP server that accepts and then says nothing: a TLS handshake to it never ends. */
async function silent(onConnect: () => void): Promise<string> {
  const port = await listen(
    createTcpServer((socket) => {
      socket.on('error', () => {});
      onConnect();
    }),
  );
  return `https://127.0.0.1:${port}`;
}

const failure = (p: Promise<unknown>): Promise<HttpError> => rejectionOf(p, HttpError);

/** `transport`, calling `onChunk` as each chunk of an answer's body arrives. */
function watchingBody(transport: Transport, onChunk: () => void): Transport {
  return async (request) => {
    const sent = await transport(request);
    return {
      ...sent,
      body: (async function* () {
        for await (const chunk of sent.body) {
          onChunk();
          yield chunk;
        }
      })(),
    };
  };
}

const transports: [string, Transport][] = [
  ['fetch', fetchTransport()],
  ['node:http', nodeTransport()],
];

describe.each(transports)('an aborted httpCall over %s', (_, transport) => {
  it('ends while connecting (a TLS handshake that never completes)', async () => {
    const stop = new AbortController();
    const url = await silent(() => stop.abort());
    const err = await failure(
      httpCall({ name: 'GET the silent host', method: 'GET', url, signal: stop.signal }, transport),
    );
    expect([err.failure, err.call, err.message]).toEqual([
      'aborted',
      'GET the silent host',
      'GET the silent host failed: stopped before the answer was complete',
    ]);
  });

  it('ends while waiting for the headers of a server that never answers', async () => {
    const stop = new AbortController();
    const seen: string[] = [];
    const url = await serve((req) => {
      seen.push(req.url ?? '');
      stop.abort();
    });
    const err = await failure(
      httpCall(
        { name: 'POST /hook', method: 'POST', url: `${url}/hook`, body: '{}', signal: stop.signal },
        transport,
      ),
    );
    expect([err.failure, seen]).toEqual(['aborted', ['/hook']]);
  });

  it('ends while reading a body that trickles and never ends', async () => {
    const stop = new AbortController();
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('{"partial":');
    });
    const err = await failure(
      httpCall(
        { name: 'GET /slow', method: 'GET', url, signal: stop.signal },
        watchingBody(transport, () => stop.abort()),
      ),
    );
    expect(err.failure).toBe('aborted');
  });

  it('sends nothing when the signal has already aborted', async () => {
    const seen: string[] = [];
    const url = await serve((req, res) => {
      seen.push(req.url ?? '');
      res.end();
    });
    const err = await failure(
      httpCall({ name: 'GET /', method: 'GET', url, signal: AbortSignal.abort() }, transport),
    );
    expect([err.failure, seen]).toEqual(['aborted', []]);
  });
});

describe('an aborted httpCall with retries', () => {
  it('stops waiting to retry and sends no further attempt', async () => {
    const stop = new AbortController();
    let attempts = 0;
    const url = await serve((_req, res) => {
      attempts++;
      // Busy for an hour; the abort comes once the first answer is out.
      res.writeHead(503, { 'retry-after': '3600' }).end(() => stop.abort());
    });
    const err = await failure(
      httpCall({
        name: 'GET /busy',
        method: 'GET',
        url,
        signal: stop.signal,
        retry: { tries: 3, baseMs: 10, maxMs: 10, maxRetryAfterMs: 7_200_000 },
      }),
    );
    expect([err.failure, attempts]).toEqual(['aborted', 1]);
  });

  it('without an abort, a deadline still ends the call as a timeout, not an abort', async () => {
    const stop = new AbortController();
    const url = await serve(() => {
      // never answers
    });
    const err = await failure(
      httpCall({ name: 'GET /', method: 'GET', url, timeoutMs: 100, signal: stop.signal }),
    );
    expect(err.failure).toBe('timeout');
  });
});

/**
 * The `jitkey credentials` client's reading of a refusal, against a loopback server: the
 * exchanger's `Retry-After` comes as seconds or as an HTTP date, and both must reach the wait.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ExchangeFailure, exchangeClient } from '../../exchanger/cli/exchange-client.js';
import { rejectionOf } from '../support/rejection.js';

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

/** A server answering every request 429 rate_limited with this `Retry-After`. */
async function refusing(retryAfter: string): Promise<string> {
  server = createServer((_req, res) => {
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after': retryAfter });
    res.end(JSON.stringify({ error: 'rate_limited', message: 'too many requests' }));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function refusal(retryAfter: string): Promise<ExchangeFailure> {
  const client = exchangeClient({ url: await refusing(retryAfter), userAgent: 'test' });
  return rejectionOf(client.exchange('a.b.c', 'deploy'), ExchangeFailure);
}

describe('Retry-After on a refusal', () => {
  it('reads delay-seconds', async () => {
    const failure = await refusal('7');
    expect(failure.code).toBe('rate_limited');
    expect(failure.retryAfter).toBe(7);
  });

  it('reads an HTTP date, rounded up to whole seconds', async () => {
    const at = new Date(Date.now() + 90_500).toUTCString();
    const failure = await refusal(at);
    // toUTCString drops the milliseconds, so the date is 89.5–90.5 s away.
    expect(failure.retryAfter).toBeGreaterThanOrEqual(89);
    expect(failure.retryAfter).toBeLessThanOrEqual(91);
  });

  it('leaves an unreadable value out rather than guessing', async () => {
    const failure = await refusal('soon');
    expect(failure.retryAfter).toBeUndefined();
  });
});

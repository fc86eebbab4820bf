/**
 * One long-lived signal (the exporter's shutdown) passed to many `httpCall`s: each call must let
 * go of it when it ends, or every call made over the process's life stays reachable from it.
 */
import { getEventListeners } from 'node:events';
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { fetchTransport, httpCall, nodeTransport, type Transport } from '../../exchanger/net/http-client.js';
import { useLoopbackServers } from '../support/loopback-servers.js';

const listen = useLoopbackServers();

async function okServer(): Promise<string> {
  return `http://127.0.0.1:${await listen(createServer((_req, res) => res.end('ok')))}/`;
}

/**
 * What the signal still holds for calls that have ended: its abort listeners, and the signals
 * `AbortSignal.any` made from it (Node keeps those in a set it never prunes, by an internal
 * symbol read here by its description).
 */
function heldBy(signal: AbortSignal): number {
  const dependants = Object.getOwnPropertySymbols(signal).find((s) => s.description === 'kDependantSignals');
  const set = dependants && (signal as unknown as Record<symbol, Set<unknown> | undefined>)[dependants];
  return getEventListeners(signal, 'abort').length + (set?.size ?? 0);
}

describe.each([
  ['fetch', fetchTransport()],
  ['node:http', nodeTransport()],
] as [string, Transport][])('a signal shared by many calls (%s)', (_name, transport) => {
  it('holds nothing for the calls once they have ended', async () => {
    const url = await okServer();
    const shutdown = new AbortController();
    for (let i = 0; i < 20; i++) {
      const answer = await httpCall(
        { name: 'GET ok', method: 'GET', url, signal: shutdown.signal },
        transport,
      );
      expect(answer.text()).toBe('ok');
    }
    expect(heldBy(shutdown.signal)).toBe(0);
  });

  it('holds nothing for calls that ended with a retry', async () => {
    let n = 0;
    const server = createServer((_req, res) => {
      res.statusCode = n++ % 2 === 0 ? 503 : 200;
      res.end('x');
    });
    const url = `http://127.0.0.1:${await listen(server)}/`;
    const shutdown = new AbortController();
    for (let i = 0; i < 5; i++) {
      const answer = await httpCall(
        {
          name: 'GET busy',
          method: 'GET',
          url,
          signal: shutdown.signal,
          retry: { tries: 2, baseMs: 1, maxMs: 1 },
        },
        transport,
      );
      expect(answer.status).toBe(200);
    }
    expect(heldBy(shutdown.signal)).toBe(0);
  });
});

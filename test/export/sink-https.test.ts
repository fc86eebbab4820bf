/**
 * The HTTPS sink's failures on its own (`export/sink-https.ts`; the exporter's tests drive it
 * through whole exports against the SIEM stand-in): what the exporter is told when nothing
 * listens, when a shutdown stops a batch in flight, and when the endpoint keeps it waiting. No
 * message quotes a header.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { SinkError } from '../../exchanger/export/sink.js';
import { httpsSink } from '../../exchanger/export/sink-https.js';
import { closedPort, useLoopbackServers } from '../support/loopback-servers.js';
import { rejectionOf } from '../support/rejection.js';

const listen = useLoopbackServers();

/** A loopback endpoint that reads each request and never answers; `onRequest` sees each. */
async function silentEndpoint(onRequest: (req: IncomingMessage) => void = () => {}): Promise<string> {
  return `http://127.0.0.1:${await listen(createServer((req) => onRequest(req)))}/ingest`;
}

const EVENTS = [{ line: '{"a":1}', time: new Date(0) }];
const SECRET = { authorization: 'Splunk secret-value' };

async function sinkFailure(p: Promise<unknown>): Promise<SinkError> {
  const err = await rejectionOf(p, SinkError);
  expect(err.message).not.toContain('secret-value');
  return err;
}

describe('the HTTPS sink', () => {
  it('says the endpoint could not be reached, in Node’s words, and may be retried', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/ingest`;
    const err = await sinkFailure(httpsSink({ url, body: 'ndjson', headers: SECRET }).send(EVENTS));
    expect(err.message).toMatch(new RegExp(`^${url} could not be reached: .*ECONNREFUSED`));
    expect(err.permanent).toBe(false);
  });

  it('ends a batch in flight when the exporter stops, and may be retried', async () => {
    const stop = new AbortController();
    const url = await silentEndpoint(() => stop.abort());
    const err = await sinkFailure(
      httpsSink({ url, body: 'ndjson', headers: SECRET }).send(EVENTS, stop.signal),
    );
    expect([err.message, err.permanent]).toEqual([
      `${url} could not be reached: the export was stopped`,
      false,
    ]);
  });

  it('gives up on an endpoint that does not answer in time', async () => {
    const url = await silentEndpoint();
    const err = await sinkFailure(
      httpsSink({ url, body: 'ndjson', headers: SECRET, timeoutMs: 100 }).send(EVENTS),
    );
    expect([err.message, err.permanent]).toEqual([
      `${url} could not be reached: no answer within 0.1 s`,
      false,
    ]);
  });
});

/**
 * A SIEM's HTTP event intake on loopback, for the export tests: Splunk's HTTP Event Collector
 * (`POST /services/collector/event`, `Authorization: Splunk <token>`, a body of `{"time":…,
 * "event":…}` objects one after another) or a plain JSON intake (`POST /ingest`: JSON lines as
 * `application/x-ndjson`, or one JSON array as `application/json`, as Elastic Agent's Custom
 * HTTP Endpoint input takes). Over TLS with the test certificate (`https://jitkey.test:PORT`,
 * trusted through `TEST_CA`) or plain HTTP.
 *
 * It checks what the real intakes check (the token, the content type, that every event parses)
 * and records only the events of requests it answered 2xx: what it acknowledged. `plan` decides
 * each request's answer: `ok`, a status with `Retry-After`, a redirect, or `hold` (the request
 * waits, unanswered, until `releaseHeld` or the client goes away).
 */
import { readFileSync } from 'node:fs';
import {
  createServer as createHttp,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';

export type Answer = 'ok' | 'hold' | { status: number; retryAfter?: string } | { redirect: string };

export interface SiemStandin {
  url: string;
  port: number;
  /** Every event acknowledged, parsed, in the order acknowledged. */
  acknowledged: Record<string, unknown>[];
  /** How many requests came, and the answers given (status or 'hold'). */
  answers: (number | 'hold')[];
  /** Header values seen (lowercased names), per request. */
  headersSeen: Record<string, string | string[] | undefined>[];
  /** Resolves when a request is being held. */
  held(): Promise<void>;
  /** Answers the held requests 200 (acknowledging them) or drops them. */
  releaseHeld(acknowledge: boolean): void;
  stop(): Promise<void>;
}

export interface SiemOptions {
  tls?: boolean;
  /** `splunk`: the HEC event endpoint and its token; `json`: the plain intake, no auth. */
  kind: 'splunk' | 'json';
  token?: string;
  /** The answer to the request numbered `n` (from 1); default `ok`. */
  plan?: (n: number) => Answer;
}

const FIXTURES = join(REPO_ROOT, 'test/fixtures/tls');
const MAX_BODY = 5 * 1024 * 1024;

function parseBody(kind: SiemOptions['kind'], type: string, body: string): Record<string, unknown>[] {
  if (kind === 'splunk') {
    // HEC takes JSON objects one after another; each carries the event under `event`.
    return body
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        const wrapped = JSON.parse(l) as { time?: unknown; event?: unknown };
        if (typeof wrapped.time !== 'number' || typeof wrapped.event !== 'object' || !wrapped.event)
          throw new Error('an HEC envelope needs a numeric time and an event object');
        return wrapped.event as Record<string, unknown>;
      });
  }
  if (type === 'application/json') {
    const parsed = JSON.parse(body) as unknown;
    if (!Array.isArray(parsed)) throw new Error('the body must be an array of objects');
    return parsed as Record<string, unknown>[];
  }
  if (type !== 'application/x-ndjson') throw new Error(`unsupported content type ${type}`);
  if (!body.endsWith('\n')) throw new Error('JSON lines end with a newline');
  return body
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export async function startSiemStandin(options: SiemOptions): Promise<SiemStandin> {
  const acknowledged: Record<string, unknown>[] = [];
  const answers: (number | 'hold')[] = [];
  const headersSeen: Record<string, string | string[] | undefined>[] = [];
  const heldResponses: { res: ServerResponse; events: Record<string, unknown>[] }[] = [];
  let onHeld: (() => void) | undefined;
  const sockets = new Set<Socket>();
  const path = options.kind === 'splunk' ? '/services/collector/event' : '/ingest';

  const answer = (
    res: ServerResponse,
    status: number,
    body: object,
    headers: Record<string, string> = {},
  ) => {
    answers.push(status);
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    headersSeen.push({ ...req.headers });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      if (req.method !== 'POST' || req.url?.split('?')[0] !== path)
        return answer(res, 404, { text: 'not found' });
      if (size > MAX_BODY) return answer(res, 413, { text: 'Content too large' });
      if (options.kind === 'splunk') {
        const auth = req.headers.authorization;
        if (!auth) return answer(res, 401, { text: 'Token is required', code: 2 });
        if (auth !== `Splunk ${options.token}`) return answer(res, 403, { text: 'Invalid token', code: 4 });
      }
      let events: Record<string, unknown>[];
      try {
        events = parseBody(
          options.kind,
          (req.headers['content-type'] ?? '').split(';')[0]!.trim(),
          Buffer.concat(chunks).toString('utf8'),
        );
      } catch (err) {
        return answer(res, 400, { text: `Invalid data format: ${(err as Error).message}`, code: 6 });
      }
      const planned = options.plan?.(answers.length + heldResponses.length + 1) ?? 'ok';
      if (planned === 'hold') {
        heldResponses.push({ res, events });
        answers.push('hold');
        onHeld?.();
        return;
      }
      if (planned === 'ok') {
        acknowledged.push(...events);
        return answer(res, 200, { text: 'Success', code: 0 });
      }
      if ('redirect' in planned) return answer(res, 307, {}, { location: planned.redirect });
      return answer(
        res,
        planned.status,
        { text: 'Server is busy', code: 9 },
        planned.retryAfter ? { 'retry-after': planned.retryAfter } : {},
      );
    });
  };

  const server: Server = options.tls
    ? createHttps(
        {
          cert: readFileSync(join(FIXTURES, 'server.pem')),
          key: readFileSync(join(FIXTURES, 'server-key.pem')),
        },
        handle,
      )
    : createHttp(handle);
  server.on(options.tls ? 'secureConnection' : 'connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${options.tls ? 'https://jitkey.test' : 'http://127.0.0.1'}:${port}${path}`,
    port,
    acknowledged,
    answers,
    headersSeen,
    held: () =>
      new Promise<void>((resolve) => {
        if (heldResponses.length) return resolve();
        onHeld = resolve;
      }),
    releaseHeld(acknowledge) {
      for (const { res, events } of heldResponses.splice(0)) {
        if (acknowledge && !res.destroyed) {
          acknowledged.push(...events);
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"text":"Success","code":0}');
        } else res.destroy();
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const { res } of heldResponses.splice(0)) res.destroy();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The small HTTP toolkit the routes share: bounded JSON bodies, bearer tokens, JSON answers. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorAnswer } from '../api-types.js';
import { invalidRequest, invalidToken, JitkeyError } from '../errors.js';

import { MAX_TOKEN_BYTES } from '../token/jws.js';
import { refuseToken } from '../token/refusal.js';

/** Security floor (reference.md §3): bodies over 16 KiB are refused (tokens too: `MAX_TOKEN_BYTES`). */
export const MAX_BODY_BYTES = 16 * 1024;

type BodyOptions = { limit?: number; timeoutMs?: number };

const bodies = new WeakMap<IncomingMessage, Promise<Buffer>>();

/**
 * The request body, read once: the app reads it before the request takes an in-flight slot, and
 * the route that parses it later gets the same bytes. An oversize body is not drained but cut
 * (the caller answers with `Connection: close`); a body that has not arrived within `timeoutMs`
 * fails as 408 `request_timeout`. The first read's options decide: later readers share its result.
 */
export function readBodyBytes(
  req: IncomingMessage,
  { limit = MAX_BODY_BYTES, timeoutMs }: BodyOptions = {},
): Promise<Buffer> {
  let body = bodies.get(req);
  if (!body) {
    body = readBodyStream(req, { limit, timeoutMs });
    bodies.set(req, body);
  }
  return body;
}

export interface BodyStreamOptions {
  limit: number;
  /** From the end of the headers to the end of the body; then `408`. Omitted: no timer. */
  timeoutMs?: number;
  /** Sees each chunk as it arrives (a budget, a running hash); an error it returns ends the read. */
  onChunk?: (chunk: Buffer) => JitkeyError | undefined;
}

/**
 * Reads a body chunk by chunk within `limit` and `timeoutMs`. A declared oversize body is refused
 * before a byte is read; a client that goes away mid-body fails the read instead of hanging it.
 */
/** The refusals `readBodyStream` made for a body over its limit (a caller may log those apart). */
const bodiesTooLarge = new WeakSet<object>();
export const isBodyTooLarge = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && bodiesTooLarge.has(err);

export function readBodyStream(
  req: IncomingMessage,
  { limit, timeoutMs, onChunk }: BodyStreamOptions,
): Promise<Buffer> {
  const tooLarge = () => {
    const err = invalidRequest(
      `request body exceeds ${limit >= 1024 * 1024 ? `${limit / 1024 / 1024} MiB` : `${limit / 1024} KiB`}`,
    );
    bodiesTooLarge.add(err);
    return err;
  };
  if (Number(req.headers['content-length']) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (err?: JitkeyError) => {
      clearTimeout(timer);
      req.off('data', onData);
      if (err) {
        req.pause();
        reject(err);
      }
    };
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(
            () =>
              stop(
                new JitkeyError(
                  'request_timeout',
                  `the request body did not arrive within ${timeoutMs / 1000} s: send it with the headers`,
                ),
              ),
            timeoutMs,
          );
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return stop(tooLarge());
      const refused = onChunk?.(chunk);
      if (refused) return stop(refused);
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => {
      stop();
      resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      stop();
      reject(err);
    });
    // A client that goes away mid-body: nothing will answer, but the reader must not hang.
    req.on('close', () => {
      if (!req.complete) stop(invalidRequest('the client closed the connection before the body ended'));
    });
  });
}

/** Parses a JSON object body; an empty body counts as `{}`. */
export async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = (await readBodyBytes(req)).toString('utf8');
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidRequest('the request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidRequest('the request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

export function bearerToken(req: IncomingMessage, what = "the job's OIDC token"): string {
  const header = req.headers.authorization;
  if (!header) throw invalidToken(`missing Authorization header: send 'Authorization: Bearer <${what}>'`);
  const match = /^Bearer +(\S+)\s*$/i.exec(header);
  if (!match) throw invalidToken(`the Authorization header must be 'Bearer <${what}>'`);
  const token = match[1]!;
  if (token.length > MAX_TOKEN_BYTES) throw refuseToken('oversize', 'the token exceeds 16 KiB');
  return token;
}

/**
 * Every JSON answer: never cached (grants carry credentials, errors and views carry job details)
 * and never sniffed into something a browser would render. The console's framing and CSP headers
 * are for HTML and add nothing here.
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: JitkeyError, requestId: string): void {
  const headers: Record<string, string> = {};
  if (err.retryAfter !== undefined) headers['retry-after'] = String(err.retryAfter);
  const body: ErrorAnswer = { error: err.code, message: err.message, request_id: requestId };
  sendJson(res, err.status, body, headers);
}

/** Any thrown value as a JitkeyError; unknown failures become a 500 that reveals nothing. */
export function asJitkeyError(err: unknown): JitkeyError {
  if (err instanceof JitkeyError) return err;
  return new JitkeyError('internal_error', 'internal error; the operators have the details', { cause: err });
}

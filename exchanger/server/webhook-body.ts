/**
 * Reads a webhook body the way its budget needs: each chunk is charged to the sender's share and
 * hashed for the signature as it arrives, so nothing is reserved for a declared size and the
 * signature is known the moment the last byte is in. The bytes are kept (to parse once signed)
 * only within the share; a chunk past it ends the read with `429` and the connection.
 */
import type { IncomingMessage } from 'node:http';
import { invalidRequest, JitkeyError } from '../errors.js';
import type { SignatureCheck } from '../github/webhook-signature.js';
import type { BodyTicket } from './webhook-budget.js';

export interface SignedBodyRead {
  /** Largest body accepted (GitHub's own 25 MiB cap). */
  limit: number;
  /** From the end of the headers to the end of the body; then `408`. */
  timeoutMs: number;
  ticket: BodyTicket;
  check: SignatureCheck;
}

/** Seconds a sender refused for the budget is told to wait. */
const RETRY_AFTER_S = 5;

export function readSignedBody(
  req: IncomingMessage,
  { limit, timeoutMs, ticket, check }: SignedBodyRead,
): Promise<{ body: Buffer; signed: boolean }> {
  const tooLarge = () => invalidRequest(`request body exceeds ${limit / 1024 / 1024} MiB`);
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
    const timer = setTimeout(
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
      const refused = ticket.take(chunk.length);
      if (refused) {
        return stop(
          new JitkeyError('rate_limited', `${refused}; retry shortly`, { retryAfter: RETRY_AFTER_S }),
        );
      }
      check.update(chunk);
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => {
      stop();
      resolve({ body: Buffer.concat(chunks), signed: check.matches() });
    });
    req.on('error', (err) => {
      stop();
      reject(err);
    });
    req.on('close', () => {
      if (!req.complete) stop(invalidRequest('the client closed the connection before the body ended'));
    });
  });
}

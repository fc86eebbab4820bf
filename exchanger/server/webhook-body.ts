/**
 * Reads a webhook body the way its budget needs: each chunk is charged to the sender's share and
 * hashed for the signature as it arrives, so nothing is reserved for a declared size and the
 * signature is known the moment the last byte is in. The bytes are kept (to parse once signed)
 * only within the share; a chunk past it ends the read with `429` and the connection.
 */
import type { IncomingMessage } from 'node:http';
import { JitkeyError } from '../errors.js';
import type { SignatureCheck } from '../github/webhook-signature.js';
import { readBodyStream } from './http.js';
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

export async function readSignedBody(
  req: IncomingMessage,
  { limit, timeoutMs, ticket, check }: SignedBodyRead,
): Promise<{ body: Buffer; signed: boolean }> {
  const body = await readBodyStream(req, {
    limit,
    timeoutMs,
    onChunk: (chunk) => {
      const refused = ticket.take(chunk.length);
      if (refused) {
        return new JitkeyError('rate_limited', `${refused}; retry shortly`, { retryAfter: RETRY_AFTER_S });
      }
      check.update(chunk);
      return undefined;
    },
  });
  return { body, signed: check.matches() };
}

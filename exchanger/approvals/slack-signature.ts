/**
 * Slack's request signing: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{raw body}">`
 * under the app's signing secret, with `X-Slack-Request-Timestamp` in Unix seconds. Checked on the
 * raw bytes before anything is parsed, compared in constant time; a timestamp more than five
 * minutes from now is refused (Slack's own advice), and so is a signature already seen within
 * that window (the caller remembers them: `consumeJti` in the store, shared by every worker).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { JitkeyError } from '../errors.js';

/** How far a request's timestamp may be from now, either way. */
export const SLACK_MAX_SKEW_SECONDS = 5 * 60;

const SIGNATURE = /^v0=([0-9a-f]{64})$/;
const TIMESTAMP = /^[0-9]{1,12}$/;

export function signSlack(secret: string, timestamp: string, body: Buffer | string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest('hex')}`;
}

export interface SlackSignedRequest {
  /** The hex digest, lower-cased: what a replay is recognised by. */
  signature: string;
  /** The request's timestamp, as a Date: a replay is remembered until it is this plus the skew. */
  timestamp: Date;
}

/** Throws `invalid_token` when the request is not Slack's, signed now; the message says which check failed. */
export function verifySlackRequest(
  secret: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  body: Buffer,
  now: Date,
): SlackSignedRequest {
  const ts = headers.timestamp?.trim() ?? '';
  const given = SIGNATURE.exec(headers.signature?.trim().toLowerCase() ?? '')?.[1];
  if (!TIMESTAMP.test(ts) || !given) {
    throw new JitkeyError(
      'invalid_token',
      'not a signed Slack request: X-Slack-Request-Timestamp and X-Slack-Signature (v0=…) are required',
    );
  }
  const expected = createHmac('sha256', secret).update(`v0:${ts}:`).update(body).digest();
  if (!timingSafeEqual(expected, Buffer.from(given, 'hex'))) {
    throw new JitkeyError(
      'invalid_token',
      "the Slack signature does not match: the exchanger's JITKEY_SLACK_SIGNING_SECRET must be the Slack app's signing secret",
    );
  }
  // Checked after the signature, so an unsigned caller learns nothing about our clock.
  const seconds = Number(ts);
  if (Math.abs(now.getTime() / 1000 - seconds) > SLACK_MAX_SKEW_SECONDS) {
    throw new JitkeyError(
      'invalid_token',
      'the Slack request is more than 5 minutes old (or from the future): refused as a possible replay',
    );
  }
  return { signature: given, timestamp: new Date(seconds * 1000) };
}

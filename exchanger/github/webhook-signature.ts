/**
 * GitHub's webhook signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` under
 * the webhook's secret. Compared in constant time; a missing or malformed header is a mismatch.
 * `signatureCheck` hashes a body as it arrives, so nothing needs holding to know whether it is
 * signed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const HEADER = /^sha256=([0-9a-f]{64})$/;

export function signBody(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The signature a header carries, or undefined when it is missing or not `sha256=<64 hex>`. */
export function parseSignature(header: string | undefined): Buffer | undefined {
  const given = HEADER.exec(header?.trim().toLowerCase() ?? '')?.[1];
  return given ? Buffer.from(given, 'hex') : undefined;
}

export interface SignatureCheck {
  /** Hashes the next piece of the body. */
  update(chunk: Buffer): void;
  /** Once the whole body went through `update`: whether the header's signature is its HMAC. */
  matches(): boolean;
}

/** An incremental check of one body against `header` (which always fails when malformed). */
export function signatureCheck(secret: string, header: string | undefined): SignatureCheck {
  const given = parseSignature(header);
  const hmac = createHmac('sha256', secret);
  return {
    update: (chunk) => void hmac.update(chunk),
    matches: () => given !== undefined && timingSafeEqual(hmac.digest(), given),
  };
}

export function signatureMatches(secret: string, body: Buffer, header: string | undefined): boolean {
  const check = signatureCheck(secret, header);
  check.update(body);
  return check.matches();
}

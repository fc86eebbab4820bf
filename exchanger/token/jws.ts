/**
 * Splitting and decoding a compact JWS, strictly: three base64url segments, JSON objects in the
 * first two. Nothing here trusts the content; `header.ts` and `claims-check.ts` judge it.
 */
import { refuseToken } from './refusal.js';

/** reference.md §3 (HTTP API), security floor: tokens over 16 KiB are refused before any parsing. */
export const MAX_TOKEN_BYTES = 16 * 1024;

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface CompactParts {
  header: string;
  payload: string;
  /** `header.payload`, the bytes the signature covers. */
  signingInput: string;
  signature: string;
}

export function splitCompact(token: unknown): CompactParts {
  if (typeof token !== 'string' || token.length === 0)
    throw refuseToken('missing_token', 'no token was given');
  if (token.length > MAX_TOKEN_BYTES) {
    throw refuseToken('oversize', `the token is ${token.length} bytes; the limit is ${MAX_TOKEN_BYTES}`);
  }
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (second < 0 || token.indexOf('.', second + 1) >= 0) {
    throw refuseToken(
      'malformed',
      'the token is malformed: a JWT has three dot-separated parts (compact JWS)',
    );
  }
  const parts = {
    header: token.slice(0, first),
    payload: token.slice(first + 1, second),
    signingInput: token.slice(0, second),
    signature: token.slice(second + 1),
  };
  for (const name of ['header', 'payload', 'signature'] as const) {
    const segment = parts[name];
    if (!BASE64URL.test(segment) || segment.length % 4 === 1) {
      throw refuseToken('malformed', `the token is malformed: its ${name} is not base64url`);
    }
  }
  if (parts.header.length === 0 || parts.payload.length === 0) {
    throw refuseToken('malformed', 'the token is malformed: its header or payload is empty');
  }
  return parts;
}

/** Decodes a header or payload segment to a plain JSON object. */
export function decodeSegment(segment: string, name: 'header' | 'payload'): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(Buffer.from(segment, 'base64url')));
  } catch {
    throw refuseToken('malformed', `the token is malformed: its ${name} is not UTF-8 JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw refuseToken('malformed', `the token is malformed: its ${name} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

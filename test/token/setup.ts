/** Shared fixtures for the token tests: a controllable clock and a fetch that records every URL. */
import { decodeJwt } from 'jose';
import { expect } from 'vitest';
import type { Logger } from '../../exchanger/log.js';
import { createVerifier, type VerifierOptions } from '../../exchanger/token/verify-token.js';
import type { OidcIssuer } from '../support/oidc-issuer.js';

/** 2025-01-15T12:00:00Z, a whole second. */
export const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);

export interface Harness {
  verifier: ReturnType<typeof createVerifier>;
  clock: { ms: number };
  /** Every URL the verifier fetched, in order. */
  fetched: string[];
  logs: { level: string; msg: string; fields?: Record<string, unknown> }[];
}

export function harness(issuer: OidcIssuer, options: Partial<VerifierOptions> = {}): Harness {
  const clock = { ms: NOW };
  const fetched: string[] = [];
  const logs: Harness['logs'] = [];
  const log = Object.fromEntries(
    (['debug', 'info', 'warn', 'error'] as const).map((level) => [
      level,
      (msg: string, fields?: Record<string, unknown>) => logs.push({ level, msg, fields }),
    ]),
  ) as unknown as Logger;
  const verifier = createVerifier({
    issuers: [{ url: issuer.url, audience: issuer.audience }],
    now: () => clock.ms,
    log,
    fetch: (input, init) => {
      fetched.push(String(input));
      return fetch(input, init);
    },
    ...options,
  });
  return { verifier, clock, fetched, logs };
}

/** Asserts an `invalid_token` refusal whose message matches and never contains the token. */
export async function expectRefused(verify: Promise<unknown>, token: string, message: RegExp): Promise<void> {
  const err = await verify.then(
    () => expect.fail('the token was accepted'),
    (e: unknown) => e as { code?: string; message: string },
  );
  expect(err.code).toBe('invalid_token');
  expect(err.message).toMatch(message);
  // An empty token is in every string; any other, and each long part of it, must not be quoted.
  const quoted = [token, ...token.split('.').filter((part) => part.length > 16)].filter(
    (part) => part !== '' && err.message.includes(part),
  );
  expect(quoted, 'the message quotes the token').toEqual([]);
}

/**
 * The verifier accepts `token` and answers exactly what it carries: its issuer, its jti and every
 * claim of its payload (not merely "something").
 */
export async function expectAccepted(
  verifier: { verify(token: string): Promise<unknown> },
  token: string,
): Promise<void> {
  const payload = decodeJwt(token);
  expect(typeof payload.jti).toBe('string');
  await expect(verifier.verify(token)).resolves.toMatchObject({
    issuer: payload.iss,
    jti: payload.jti,
    claims: payload,
  });
}

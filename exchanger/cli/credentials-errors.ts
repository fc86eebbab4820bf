/**
 * What `jitkey credentials` tells the job when it fails: the exchanger's reason, its request_id
 * (for the operators' logs), what to change, and an exit code a pipeline can branch on. Every
 * error code the API has gets its own advice (`Record<ErrorCode, …>` holds that to the list).
 */
import type { ErrorCode } from '../errors.js';
import { clean } from '../text/clean.js';
import type { ExchangeFailure } from './exchange-client.js';

/** Exit codes (docs/ci-systems.md): a pipeline may retry on 4, never on 1. */
export const EXIT = {
  ok: 0,
  /** The exchanger refused, or the answer could not be used: change something first. */
  refused: 1,
  /** A usage error: a flag, a token source, an output path. */
  usage: 2,
  /** An approval was denied, expired, or not given within --wait-approval. */
  approval: 3,
  /** The exchanger could not be reached, or answered 429/5xx: retrying later may work. */
  unavailable: 4,
} as const;

const ADVICE: Record<ErrorCode, string> = {
  invalid_request:
    "Check --role against the roles the exchanger's policy offers, and --duration against the role's max_duration.",
  invalid_token:
    "The token's issuer must be one the policy lists and its audience that issuer's `audience` (GitLab: the `aud` of the id_tokens entry; Buildkite: --audience of `buildkite-agent oidc request-token`); it must not be expired.",
  token_replayed:
    'Each exchange, and each redemption of an approval, needs an unused token: give the redemption its own (--redeem-token-env, e.g. a second GitLab id_tokens entry), and re-run the job.',
  access_denied:
    "Compare the token's claims with the role's allow rules: run the job from a project, branch and environment the role allows, or ask the exchanger's operators to change the policy.",
  self_approval: 'Another approver has to decide this request.',
  run_completed: 'The pipeline or run this token belongs to has finished; re-run the job.',
  not_found:
    'No lease or request matches: it was already revoked, or the lease file is not the one this job wrote.',
  request_timeout: 'The exchanger timed out reading the request; try again.',
  not_approved: 'The request is not approved yet; wait for an approver.',
  already_redeemed: 'Each approval is good for one use; re-run the job to ask again.',
  rate_limited: 'Too many requests from this address or run; try again later.',
  internal_error: 'The exchanger failed; give its operators the request_id.',
  upstream_error:
    'The exchanger could not mint the credentials upstream (the cloud refused or failed); give its operators the request_id.',
  unavailable: 'The exchanger cannot record decisions right now (its store is down); try again later.',
};

/** The client's own failures that advice helps; a redirect's and a bad answer's messages say it all. */
const CLIENT_ADVICE: Partial<Record<string, string>> = {
  unreachable:
    'Check --url and that this job can reach the exchanger (network, DNS; jitkey credentials connects directly, without a proxy).',
};

export function exitCodeFor(failure: ExchangeFailure): number {
  if (failure.code === 'unreachable' || failure.status === 429 || failure.status >= 500)
    return EXIT.unavailable;
  return EXIT.refused;
}

/** The lines printed on stderr for a failure: what failed, the reason, and what to change. */
export function describeFailure(what: string, failure: ExchangeFailure, token?: string): string {
  const status = clean(failure.status ? `${failure.status} ${failure.code}` : failure.code);
  const id = failure.requestId ? `, request_id ${clean(failure.requestId)}` : '';
  const lines = [`${what} failed (${status}${id}):`, `  ${clean(failure.message)}`];
  const advice = ADVICE[failure.code as ErrorCode] ?? CLIENT_ADVICE[failure.code];
  if (failure.code === 'invalid_token' && token) {
    const claims = decodeClaims(token);
    if (claims)
      lines.push(`  The token has iss ${JSON.stringify(claims.iss)}, aud ${JSON.stringify(claims.aud)}.`);
  }
  if (failure.retryAfter) lines.push(`  The exchanger asks to come back after ${failure.retryAfter} s.`);
  if (advice) lines.push(advice);
  return `${lines.join('\n')}\n`;
}

/**
 * The payload of a JWT, decoded and not verified: only to say which issuer and audience a refused
 * token named (neither is a secret; the token is, and is never printed).
 */
export function decodeClaims(token: string): Record<string, unknown> | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return claims && typeof claims === 'object' ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

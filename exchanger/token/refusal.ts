/**
 * A refused token, typed like jose's `JWTClaimValidationFailed`: the API code stays
 * `invalid_token` (401), and `reason` and `claim` say what failed, so callers, logs and tests
 * match on them rather than on the wording, which is written for people and may change.
 */
import { JitkeyError } from '../errors.js';

export type TokenRefusalReason =
  /** No token, or not a string. */
  | 'missing_token'
  /** Over MAX_TOKEN_BYTES. */
  | 'oversize'
  /** Not a compact JWS of JSON objects. */
  | 'malformed'
  /** A required claim or header parameter is absent (`claim` names it). */
  | 'missing'
  /** A claim or header parameter is present but of the wrong type or shape. */
  | 'invalid'
  /** `alg` none, HMAC, or not on the allowed list. */
  | 'algorithm_refused'
  /** A key carried in the header (`jwk`, `jku`, `x5u`, `x5c`) or a `crit` extension. */
  | 'header_refused'
  | 'untrusted_issuer'
  | 'unknown_key'
  /** The issuer's key cannot verify this algorithm (wrong type, size, use or key_ops). */
  | 'unusable_key'
  | 'bad_signature'
  | 'audience_mismatch'
  | 'expired'
  | 'not_yet_valid'
  | 'issued_in_future'
  /** `exp` not after `iat`, or a lifetime beyond the accepted maximum. */
  | 'lifetime';

export class TokenRefusal extends JitkeyError {
  readonly reason: TokenRefusalReason;
  /** The claim (payload) or header parameter that failed, where one did. */
  readonly claim?: string;

  constructor(
    reason: TokenRefusalReason,
    message: string,
    options: { claim?: string; cause?: unknown; detail?: string } = {},
  ) {
    super('invalid_token', message, {
      cause: options.cause,
      ...(options.detail !== undefined ? { detail: options.detail } : {}),
    });
    this.name = 'TokenRefusal';
    this.reason = reason;
    if (options.claim !== undefined) this.claim = options.claim;
  }
}

export const refuseToken = (reason: TokenRefusalReason, message: string, claim?: string) =>
  new TokenRefusal(reason, message, claim === undefined ? {} : { claim });

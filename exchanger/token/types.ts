import type { Claims } from '../claims.js';

export interface VerifiedToken {
  claims: Claims;
  /** Required by the security floor; the replay key. */
  jti: string;
  issuer: string;
  /** The token's `exp`: the jti is remembered until then. */
  expiresAt: Date;
}

export interface TokenVerifier {
  /** Throws JitkeyError `invalid_token` with a message that says what was wrong. */
  verify(token: string): Promise<VerifiedToken>;
}

import type { Claims } from '../claims.js';

export interface VerifiedToken {
  claims: Claims;
  /**
   * The replay key: the token's `jti` (required by the security floor), or, for an issuer whose
   * tokens carry none (`replay: 'token'`), `sha256:` and the hex SHA-256 of the whole token.
   */
  jti: string;
  issuer: string;
  /** The token's `exp`: the jti is remembered until then. */
  expiresAt: Date;
}

export interface TokenVerifier {
  /**
   * Throws JitkeyError `invalid_token` with a message that says what was wrong, or `unavailable`
   * when the issuer's keys cannot be fetched (not the caller's fault).
   */
  verify(token: string): Promise<VerifiedToken>;
}

/** An issuer the exchanger trusts (the policy's `issuers` entries). */
export interface TrustedIssuer {
  /** Compared byte for byte with the token's `iss`; https unless the host is loopback. */
  url: string;
  /** The token's `aud` must be this (a string, or an array holding only it). */
  audience: string;
  /**
   * `jti` (default): a token without one is refused. `token`: the issuer's tokens carry no `jti`
   * (Buildkite, CircleCI): each is single use by the SHA-256 of its whole text instead.
   */
  replay?: 'jti' | 'token';
  /** Longest `exp - iat` accepted; default the floor's 15 minutes. */
  maxLifetimeSeconds?: number;
}

/** A verifier that can also load every issuer's keys ahead of the first token (start-up, /readyz). */
export interface ReadyTokenVerifier extends TokenVerifier {
  /** Resolves once every issuer's keys are loaded; throws JitkeyError `unavailable` otherwise. */
  ready(): Promise<void>;
}

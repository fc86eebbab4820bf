/**
 * Tokens for the bench: GitHub-shaped, RS256, signed with a key the bench's loopback issuer
 * publishes, so the load generator (a separate process) can mint them too, each with its own
 * `jti` (single use: a replayed token would measure the 401 path, not an exchange).
 */
import { createPrivateKey, type KeyObject, randomUUID } from 'node:crypto';
import { type OidcIssuer, type SigningKey, signJwt } from '../test/support/oidc-issuer.js';

/** Everything a process needs to mint tokens the exchanger accepts. Plain data: it crosses IPC. */
export interface TokenRecipe {
  privateKeyPem: string;
  kid: string;
  /** The issuer's claims (`idp.claims()`); `jti`, `iat`, `nbf`, `exp` are replaced per token. */
  template: Record<string, unknown>;
  lifetimeSeconds: number;
}

export function tokenRecipe(idp: OidcIssuer, key: SigningKey, lifetimeSeconds = 300): TokenRecipe {
  return {
    privateKeyPem: key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    kid: key.kid,
    template: idp.claims(),
    lifetimeSeconds,
  };
}

/** A function returning a fresh token (new jti, issued now) on every call. */
export function minter(recipe: TokenRecipe): () => string {
  const key: KeyObject = createPrivateKey(recipe.privateKeyPem);
  const header = { typ: 'JWT', alg: 'RS256', x5t: recipe.kid, kid: recipe.kid };
  return () => {
    const iat = Math.floor(Date.now() / 1000);
    const payload = {
      ...recipe.template,
      jti: randomUUID(),
      iat,
      nbf: iat,
      exp: iat + recipe.lifetimeSeconds,
    };
    return signJwt(header, payload, { key });
  };
}

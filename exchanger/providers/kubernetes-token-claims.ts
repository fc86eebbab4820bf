/** What a token the API server issued says: its claims, and that its audiences are the ones asked for. */
import { type ApiServer, malformed } from './kubernetes-answers.js';

/**
 * A token for other audiences than asked would be accepted by other services than the role names
 * (or refused by the one it does): the answer's `spec.audiences` and the token's own `aud` (a
 * service-account token is a JWT) must be the set asked for. Asked for none, the API server picks
 * its own, and there is nothing to compare.
 */
export function checkAudiences(conn: ApiServer, asked: string[], spec: unknown, token: string): void {
  if (asked.length === 0) return;
  const want = [...new Set(asked)].sort();
  const same = (got: unknown) =>
    Array.isArray(got) &&
    got.every((a) => typeof a === 'string') &&
    JSON.stringify([...new Set(got as string[])].sort()) === JSON.stringify(want);
  const answered = (spec as { audiences?: unknown } | undefined)?.audiences;
  if (!same(answered)) {
    throw malformed(
      conn,
      `the TokenRequest answer is for audiences ${JSON.stringify(answered ?? null)}, not the ${JSON.stringify(want)} asked for; the token was not handed out`,
    );
  }
  const aud = jwtAudience(token);
  if (aud !== undefined && !same(aud)) {
    throw malformed(
      conn,
      `the token issued is for audiences ${JSON.stringify(aud)}, not the ${JSON.stringify(want)} asked for; it was not handed out`,
    );
  }
}

/** The `aud` claim of a JWT as a list; undefined when the token is not a JWT that carries one. */
function jwtAudience(token: string): unknown[] | undefined {
  const aud = jwtClaims(token)?.aud;
  if (aud === undefined) return undefined;
  return Array.isArray(aud) ? aud : [aud];
}

/**
 * The claims of a JWT the API server just issued us, unverified (it came over our own connection
 * to it); undefined when the token is not a JWT.
 */
export function jwtClaims(token: string): Record<string, unknown> | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
    return claims && typeof claims === 'object' ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

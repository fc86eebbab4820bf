/**
 * The GitHub App's own JWT (RS256), which authenticates the App to `/app/...` endpoints:
 * `iss` = the App id, `iat` = now − 60 s (GitHub's advice against clock drift), `exp` = iat + 10 min,
 * i.e. 9 minutes ahead, inside GitHub's 10-minute ceiling.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';

export const APP_JWT_LIFETIME_SECONDS = 600;

/**
 * Reads the App's private key: PEM, PKCS#1 (`BEGIN RSA PRIVATE KEY`, as GitHub hands it out) or
 * PKCS#8. Literal `\n` sequences (a key pasted into a one-line environment variable) become newlines.
 * The error never quotes the key.
 */
export function parseAppPrivateKey(key: string | KeyObject): KeyObject {
  if (typeof key !== 'string') return key;
  const pem = key.includes('\\n') ? key.replace(/\\n/g, '\n') : key;
  let parsed: KeyObject;
  try {
    parsed = createPrivateKey({ key: pem.trim(), format: 'pem' });
  } catch (cause) {
    throw new Error('the GitHub App private key is not a PEM private key', { cause });
  }
  if (parsed.asymmetricKeyType !== 'rsa') {
    throw new Error(`the GitHub App private key must be an RSA key, not ${parsed.asymmetricKeyType}`);
  }
  return parsed;
}

export async function signAppJwt(
  appId: string,
  key: KeyObject,
  now: Date,
): Promise<{ jwt: string; exp: number }> {
  const iat = Math.floor(now.getTime() / 1000) - 60;
  const exp = iat + APP_JWT_LIFETIME_SECONDS;
  const jwt = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
    .setIssuer(appId)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key);
  return { jwt, exp };
}

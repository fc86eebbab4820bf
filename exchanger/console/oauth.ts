/**
 * GitHub's OAuth web flow for a GitHub App's client, server side: the authorize URL (with `state`
 * and a PKCE S256 challenge), and the code exchanged for a user token with the client secret and
 * the PKCE verifier. The token is used once to ask who signed in, then dropped by the caller.
 * The code goes out through the exchanger's one HTTP client (`net/http-client.ts`): a timeout, a
 * size limit, and a redirect refused (it would carry the client secret elsewhere).
 */
import { createHash, randomBytes } from 'node:crypto';
import { JitkeyError } from '../errors.js';
import { fetchTransport, type HttpAnswer, httpCall } from '../net/http-client.js';
import type { ConsoleConfig } from './config.js';

const TIMEOUT_MS = 10_000;
/** GitHub's token answer is a few hundred bytes; anything near this is not GitHub. */
const MAX_ANSWER_BYTES = 64 * 1024;

export interface SignInStart {
  state: string;
  verifier: string;
  url: string;
}

export function startSignIn(config: ConsoleConfig): SignInStart {
  const state = randomBytes(32).toString('base64url');
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const query = new URLSearchParams({
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    allow_signup: 'false',
  });
  return { state, verifier, url: `${config.githubWebUrl}/login/oauth/authorize?${query}` };
}

/** GitHub's answer to the code: a user token, or a refusal said in words a person can act on. */
export async function exchangeCode(
  config: ConsoleConfig,
  fetch: typeof globalThis.fetch,
  code: string,
  verifier: string,
): Promise<string> {
  let res: HttpAnswer;
  try {
    res = await httpCall(
      {
        name: 'GitHub POST /login/oauth/access_token',
        method: 'POST',
        url: `${config.githubWebUrl}/login/oauth/access_token`,
        headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: config.clientId,
          client_secret: config.clientSecret,
          code,
          redirect_uri: config.redirectUri,
          code_verifier: verifier,
        }).toString(),
        timeoutMs: TIMEOUT_MS,
        maxBytes: MAX_ANSWER_BYTES,
      },
      fetchTransport(fetch),
    );
  } catch (cause) {
    // Unreachable, slow, redirected or oversized: the person can only try again.
    throw new JitkeyError('upstream_error', 'GitHub could not be reached to finish the sign-in: try again', {
      cause,
    });
  }
  const body = jsonObject(res);
  if (res.ok && typeof body.access_token === 'string' && body.access_token !== '') return body.access_token;
  const error = typeof body.error === 'string' ? body.error.replace(/[^a-z_]/g, '').slice(0, 40) : '';
  if (res.ok && error) {
    throw new JitkeyError(
      'invalid_request',
      `GitHub did not accept the sign-in (${error}): sign in again${error === 'incorrect_client_credentials' ? '; the operators must check JITKEY_GITHUB_APP_CLIENT_SECRET' : ''}`,
    );
  }
  throw new JitkeyError('upstream_error', `GitHub answered ${res.status} to the sign-in: try again`);
}

/** The answer's JSON object's fields; none when it is not a JSON object. */
function jsonObject(res: HttpAnswer): { access_token?: unknown; error?: unknown } {
  try {
    const parsed: unknown = res.json();
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    return {};
  }
}

/**
 * The job's OIDC token from the runner: GET `$ACTIONS_ID_TOKEN_REQUEST_URL` with `audience` and the
 * runner's request token as bearer, answer `{value}`. The token is masked before it is returned.
 */
import { ActionError } from '../shared/errors.js';
import { call } from '../transport/call.js';
import type { Deps } from './deps.js';

export const MISSING_PERMISSION_MESSAGE =
  'The job has no OIDC token to exchange (ACTIONS_ID_TOKEN_REQUEST_URL is not set). ' +
  'Add `permissions: id-token: write` to the job (or the workflow) that uses jitkey. ' +
  'Pull requests from forks get no token at all (GitHub withholds it from them), ' +
  'so jitkey cannot run for them.';

export async function requestIdToken(deps: Deps, audience: string, retries: number): Promise<string> {
  const requestUrl = deps.env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = deps.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!requestUrl || !requestToken) throw new ActionError('oidc_unavailable', MISSING_PERMISSION_MESSAGE);
  const url = new URL(requestUrl);
  url.searchParams.set('audience', audience);

  const response = await call(deps, { retries, label: "the runner's OIDC token endpoint" }, () => ({
    method: 'GET',
    url,
    headers: { authorization: `Bearer ${requestToken}`, accept: 'application/json' },
  }));
  if (response.status < 200 || response.status > 299) {
    throw new ActionError(
      'oidc_failed',
      `The runner refused the OIDC token request: HTTP ${response.status}. ` +
        'Check that the job has `permissions: id-token: write`.',
    );
  }
  let value: unknown;
  try {
    value = (JSON.parse(response.body) as { value?: unknown } | null)?.value;
  } catch {
    value = undefined;
  }
  if (typeof value !== 'string' || value === '') {
    throw new ActionError('oidc_failed', "The runner's OIDC token endpoint answered without a token.");
  }
  deps.core.setSecret(value);
  return value;
}

/** Claims a workflow author can compare with the policy: nothing here is secret. */
export const SHOWN_CLAIMS = [
  'repository',
  'ref',
  'environment',
  'event_name',
  'workflow_ref',
  'job_workflow_ref',
] as const;

/**
 * The token's payload, read without verification (only to explain a refusal; the exchanger is the
 * one that verifies). Undefined when the token is not a readable JWT.
 */
export function decodeClaims(token: string): Record<string, unknown> | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return claims !== null && typeof claims === 'object' && !Array.isArray(claims)
      ? (claims as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The shown claims as [name, value] rows; a claim the token lacks shows as `(not in token)`. */
export function shownClaims(claims: Record<string, unknown>): Array<[string, string]> {
  return SHOWN_CLAIMS.map((name) => {
    const v = Object.hasOwn(claims, name) ? claims[name] : undefined;
    return [name, typeof v === 'string' ? v : v === undefined ? '(not in token)' : JSON.stringify(v)];
  });
}

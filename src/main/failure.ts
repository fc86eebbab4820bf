/**
 * What the workflow author reads when the step fails: the exchanger's own reasons, its request_id
 * (for the operators' logs), and for a denial the token's non-secret claims, so the claim that
 * did not fit the policy is visible at once.
 */

import { decodeClaims, shownClaims } from '../client/oidc.js';
import { ActionError, ExchangerError } from '../shared/errors.js';

export interface FailureContext {
  role: string;
  audience: string;
  /** The last OIDC token sent, if any: its payload is decoded (not verified) to explain a refusal. */
  token: string | undefined;
}

export interface Failure {
  /** For the step log and annotation. */
  message: string;
  /** For the job summary, which shows the claims as a table of its own: the message without them. */
  summaryText?: string;
  /** The shown claims, when the failure is a refusal that the claims explain. */
  claims?: Array<[string, string]>;
}

export function describeFailure(e: unknown, ctx: FailureContext): Failure {
  if (e instanceof ExchangerError) return describeExchangerError(e, ctx);
  if (e instanceof ActionError) return { message: e.message };
  return { message: `jitkey failed unexpectedly: ${e instanceof Error ? e.message : String(e)}` };
}

function describeExchangerError(e: ExchangerError, ctx: FailureContext): Failure {
  const status = `${e.status} ${e.apiCode}${e.requestId ? `, request_id ${e.requestId}` : ''}`;
  const reason = e.apiMessage || '(the exchanger gave no reason)';
  const claims = ctx.token ? decodeClaims(ctx.token) : undefined;
  if (e.status === 403) {
    const rows = claims ? shownClaims(claims) : undefined;
    const head = [`The exchanger denied role '${ctx.role}' (${status}):`, `  ${reason}`];
    const table: string[] = [];
    if (rows) {
      const width = Math.max(...rows.map(([k]) => k.length));
      table.push("The job's OIDC token carries (non-secret claims):");
      for (const [k, v] of rows) table.push(`  ${k.padEnd(width)}  ${v}`);
    }
    const hint =
      e.apiCode === 'self_approval'
        ? "The job's own actor cannot approve it: another approver has to."
        : "Compare these with the role's allow rules: run the job from a repository, branch, environment " +
          "and event the role allows, or ask the exchanger's operators to change the policy.";
    const message = [...head, ...table, hint].join('\n');
    const summaryText = [...head, hint].join('\n');
    return rows ? { message, summaryText, claims: rows } : { message };
  }
  if (e.status === 401) {
    const hint =
      e.apiCode === 'token_replayed'
        ? 'Each exchange needs a fresh OIDC token and this one had been used already; re-run the job.'
        : `Check that the audience input ('${ctx.audience}') is the audience the exchanger expects` +
          `${claims ? ` (the token has aud ${JSON.stringify(claims.aud)}, iss ${JSON.stringify(claims.iss)})` : ''}` +
          ' and that the exchanger trusts this issuer.';
    return { message: `The exchanger rejected the job's OIDC token (${status}):\n  ${reason}\n${hint}` };
  }
  if (e.status === 400) {
    return {
      message:
        `The exchanger refused the request for role '${ctx.role}' (${status}):\n  ${reason}\n` +
        'Check the role and duration inputs against the roles the exchanger offers.',
    };
  }
  return { message: e.message };
}

/**
 * Redeeming an approved request with a fresh token of the same run: verified and spent, checked
 * redeemable, authorized again, then minted and committed by compare-and-swap. A refusal is audited.
 */
import { sameJobClaims } from '../ci-job.js';
import { type Claims, claimText } from '../claims.js';
import { secretMatches } from '../digest.js';
import { formatDuration } from '../duration.js';
import { invalidRequest, JitkeyError } from '../errors.js';
import { authorize, grantedDuration, lookupRole, refusalRow, spend } from '../exchange/exchange.js';
import { mintAndRecord } from '../exchange/mint.js';
import { limitByRun } from '../exchange/run-limits.js';
import type { Grant } from '../exchange/types.js';
import type { ApprovalRequestRecord } from '../store/approvals-types.js';
import type { AuditClient } from '../store/audit-types.js';
import { quote } from '../text/quote.js';
import { type ApprovalContext, approvalConfig, approvalInForce, notFound } from './context.js';
import { approvalCount, checkRedeemable, redeemed } from './state.js';

export async function redeemRequest(
  ctx: ApprovalContext,
  id: string,
  oidcToken: string,
  body: Record<string, unknown>,
  /** The client's address and user agent: the audit rows name them; refusals fold by address. */
  client: AuditClient = {},
): Promise<Grant> {
  const peer = client.clientAddress ?? '';
  const { deps, store, persistExpiry } = ctx;
  let request: ApprovalRequestRecord | undefined;
  let claims: Claims | undefined;
  try {
    // The token first, as for an exchange: nothing an unverified caller sent reaches the audit.
    // The body is read before the token is spent, so a malformed one does not burn it.
    const verified = await deps.verifier().verify(oidcToken);
    claims = verified.claims;
    const pollToken = parseRedeemBody(body);
    await spend(deps, verified);
    request = await store.getApprovalRequest(id);
    if (!request || !secretMatches(pollToken, request.pollTokenHash)) {
      request = undefined;
      throw notFound(id);
    }
    checkSameRun(request, verified.claims);
    try {
      checkRedeemable(
        { ...request, required: approvalConfig(deps.policy(), request, deps.now()).required },
        deps.now(),
      );
    } catch (err) {
      await persistExpiry(request);
      throw err;
    }
    await checkApprovalStillHolds(ctx, request);
    const role = lookupRole(deps.policy(), request.role);
    await authorize(deps, role, verified.claims, verified.issuer);
    // The run's limits hold for a redemption as for any exchange: nothing for a completed run
    // attempt (`run_completed`), and max_duration counted from the attempt's first lease.
    const { durationSeconds: duration, endsAt } = await limitByRun(
      deps,
      role,
      verified.claims,
      grantedDuration(role, request.durationSeconds),
    );
    const approved = request;
    const approvedBy = approved.approvals.map((v) => v.login).join(', ');
    return await mintAndRecord({
      deps,
      requestId: id,
      role,
      claims: verified.claims,
      durationSeconds: duration,
      ...(endsAt ? { endsAt } : {}),
      audit: {
        event: 'redeem',
        reason: `granted for ${formatDuration(duration)}; approved by ${approvedBy}`,
        ...client,
      },
      record: async (row, lease) => {
        const next = redeemed(approved, lease.id, row.at);
        if (!(await store.updateApprovalRequest(id, approved.version, next, row, lease))) {
          throw new JitkeyError(
            'already_redeemed',
            'this request was redeemed (or changed) while these credentials were minted; they were discarded',
          );
        }
      },
    });
  } catch (err) {
    await auditRedeemRefusal(ctx, { id, peer, client, request, claims }, err);
    throw err;
  }
}

/**
 * An approval is redeemed under the policy in force: votes of approvers it no longer names do not
 * count, and a `required` raised since must be met (README: 403 when the policy changed).
 */
async function checkApprovalStillHolds(ctx: ApprovalContext, request: ApprovalRequestRecord): Promise<void> {
  const github = ctx.requireGithub('redeeming an approval needs GitHub to check its approvers');
  const { kept, required, holds } = await approvalInForce(github, ctx.deps.policy(), request, ctx.deps.now());
  if (holds) return;
  const count = approvalCount({ approvals: kept });
  throw new JitkeyError(
    'access_denied',
    `the role's approval policy changed since this request was approved: ${count} of the ${required} approvals it now requires come from approvers it names; re-run the job to ask again`,
  );
}

async function auditRedeemRefusal(
  { deps, record }: ApprovalContext,
  {
    id,
    peer,
    client,
    request,
    claims,
  }: { id: string; peer: string; client: AuditClient; request?: ApprovalRequestRecord; claims?: Claims },
  err: unknown,
): Promise<void> {
  const row = await refusalRow(deps, err, {
    event: 'redeem',
    requestId: id,
    peer,
    client,
    claims,
    role: request?.role,
    metricRole: request?.role ?? '',
  });
  if (row) await record(row);
}

export function parseRedeemBody(body: Record<string, unknown>): string {
  for (const key of Object.keys(body)) {
    if (key !== 'poll_token')
      throw invalidRequest(`unknown field ${quote(key)}: the body takes 'poll_token'`);
  }
  const token = body.poll_token;
  if (typeof token !== 'string' || token === '')
    throw invalidRequest("'poll_token' is required: the poll_token of the 202 answer");
  return token;
}

/**
 * The fresh token must come from the run that asked: GitHub's same issuer, repository_id, run_id
 * and run_attempt; another system's own run claims (`ci-job.ts` `sameJobClaims`).
 */
export function checkSameRun(request: Pick<ApprovalRequestRecord, 'claims'>, claims: Claims): void {
  const names = sameJobClaims(request.claims);
  const differ = names.filter((name) => {
    const value = claimText(claims, name);
    return value === undefined || value !== request.claims[name];
  });
  if (differ.length === 0) return;
  const shown = differ.map((name) => {
    const value = claimText(claims, name);
    return value !== undefined ? `${name} '${value.slice(0, 64)}'` : `${name} missing`;
  });
  throw new JitkeyError(
    'access_denied',
    `this token is not from the run that asked for approval (${shown.join(', ')}): redeem with a fresh token of that same run`,
  );
}

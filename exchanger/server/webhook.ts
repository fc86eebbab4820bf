/**
 * POST /v1/github/webhook (SPEC section 5): job-end revocation without the post step.
 *
 * - Before any of the body is read (`screenWebhook`): not configured (no
 *   JITKEY_GITHUB_WEBHOOK_SECRET) → 404, as for any route this exchanger lacks; no signature
 *   header → 401; an event other than `workflow_run` → 204, unread.
 * - Bodies up to 25 MiB (GitHub's own cap on a payload), at most 64 MiB of them held at once (then
 *   429); the signature is checked over the raw bytes before anything is parsed. Missing or wrong
 *   signature: 401 and an audit row (one per client address per minute, the others counted into
 *   a summary row).
 * - `workflow_run` actions other than `completed`: 204.
 * - `workflow_run completed`: the run attempt is recorded as completed (later exchanges with its
 *   tokens get `403 run_completed`), then each of its leases is revoked: GitHub tokens deleted
 *   upstream, every lease marked revoked with its own audit row. Answer: 200 `{"revoked": N}`.
 *
 * Revoking never depends on the role still being in the policy: a renamed or removed role's
 * GitHub tokens are deleted all the same.
 */
import type { IncomingMessage } from 'node:http';
import { invalidRequest, JitkeyError } from '../errors.js';
import { auditsRefusal, type RefusalFold } from '../exchange/refusal-fold.js';
import type { RunApprovals } from '../exchange/types.js';
import { signatureMatches } from '../github/webhook-signature.js';
import { type EndLeaseDeps, endLease } from '../leases/end.js';
import { unsealForRunEnd } from '../leases/run-end.js';
import type { RunKey } from '../store/types.js';
import { quote } from '../text/quote.js';
import { readBodyBytes } from './http.js';

export const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;
/**
 * Webhook bodies held at once, across deliveries. The signature covers the whole body, so a body
 * must be read before it can be checked: this bounds what unsigned senders can make the server
 * buffer (GitHub's own `workflow_run` deliveries are tens of KiB).
 */
export const MAX_BUFFERED_WEBHOOK_BYTES = 64 * 1024 * 1024;
export const WEBHOOK_PATH = '/v1/github/webhook';

export interface WebhookDeps extends EndLeaseDeps {
  webhookSecret?: string;
  refusals?: RefusalFold | undefined;
  approvals?: Pick<RunApprovals, 'closeRun'> | undefined;
}

export type WebhookOutcome = { status: 204 } | { status: 200; revoked: number };

/**
 * What can be decided before the body is read, so nothing is buffered for it: no webhook secret
 * configured (404), no signature header (401, audited), an event other than `workflow_run`
 * (`ignore`: answered 204 unread).
 */
export async function screenWebhook(
  deps: WebhookDeps,
  req: IncomingMessage,
  requestId: string,
): Promise<'read' | 'ignore'> {
  if (!deps.webhookSecret) {
    throw new JitkeyError(
      'not_found',
      'the GitHub webhook is not enabled on this exchanger (set JITKEY_GITHUB_WEBHOOK_SECRET)',
    );
  }
  if (!header(req, 'x-hub-signature-256')) await refuseSignature(deps, req, requestId);
  return header(req, 'x-github-event') === 'workflow_run' ? 'read' : 'ignore';
}

/** A `workflow_run` delivery whose head passed `screenWebhook`: the body, its signature, the work. */
export async function handleWebhook(
  deps: WebhookDeps,
  req: IncomingMessage,
  requestId: string,
): Promise<WebhookOutcome> {
  const secret = deps.webhookSecret ?? '';
  const body = await readBodyBytes(req, { limit: MAX_WEBHOOK_BYTES });
  if (!signatureMatches(secret, body, header(req, 'x-hub-signature-256'))) {
    await refuseSignature(deps, req, requestId);
  }
  const payload = parsePayload(body);
  if (payload.action !== 'completed') return { status: 204 };
  const run = runOf(payload);
  return { status: 200, revoked: await endRun(deps, run, requestId) };
}

/** Audits (folded per client address, as anyone can send these) and throws the 401. */
async function refuseSignature(deps: WebhookDeps, req: IncomingMessage, requestId: string): Promise<never> {
  if (auditsRefusal(deps.refusals, { peer: req.socket.remoteAddress ?? '', event: 'webhook' })) {
    await deps.store.record({
      at: deps.now(),
      requestId,
      event: 'webhook',
      outcome: 'denied',
      errorCode: 'invalid_token',
      reason: `GitHub webhook refused: missing or wrong X-Hub-Signature-256 (event ${quote(header(req, 'x-github-event') ?? '', 64)}, delivery ${quote(header(req, 'x-github-delivery') ?? '', 64)})`,
      claims: {},
    });
  }
  throw new JitkeyError(
    'invalid_token',
    'X-Hub-Signature-256 is missing or does not match: the webhook secret in GitHub must equal JITKEY_GITHUB_WEBHOOK_SECRET',
  );
}

/** Records the attempt as completed and revokes its leases; returns how many it revoked. */
export async function endRun(deps: WebhookDeps, run: RunKey, requestId: string): Promise<number> {
  const claims = { repository_id: run.repositoryId, run_id: run.runId, run_attempt: run.runAttempt };
  const leases = await deps.store.completeRun(run, deps.now(), {
    at: deps.now(),
    requestId,
    event: 'webhook',
    outcome: 'allowed',
    reason: `workflow_run completed: run ${run.runId} attempt ${run.runAttempt} ended; revoking its leases`,
    claims,
  });
  // Its approval requests first: nobody should be asked to approve for a job that has ended.
  await deps.approvals?.closeRun?.(run);
  for (const lease of leases) {
    const sealed = lease.sealedRunEnd;
    const key = deps.webhookSecret;
    await endLease(deps, lease, {
      requestId,
      secret: sealed && key ? () => unsealForRunEnd(sealed, key, lease.id) : undefined,
      why: ': workflow run completed',
      claims,
    });
  }
  return leases.length;
}

interface Payload {
  action?: unknown;
  repository?: { id?: unknown };
  workflow_run?: { id?: unknown; run_attempt?: unknown };
}

function parsePayload(body: Buffer): Payload {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Payload;
  } catch {
    // fall through
  }
  throw invalidRequest(
    'the webhook body is not a JSON object (set the webhook content type to application/json)',
  );
}

function runOf(payload: Payload): RunKey {
  const id = (v: unknown) =>
    typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? String(v) : undefined;
  const repositoryId = id(payload.repository?.id);
  const runId = id(payload.workflow_run?.id);
  const runAttempt = id(payload.workflow_run?.run_attempt);
  if (!repositoryId || !runId || !runAttempt) {
    throw invalidRequest(
      'workflow_run payload lacks repository.id, workflow_run.id or workflow_run.run_attempt',
    );
  }
  return { repositoryId, runId, runAttempt };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

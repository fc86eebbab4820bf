/**
 * POST /v1/github/webhook (reference.md §5, refresh): job-end revocation without the post step.
 *
 * - Before any of the body is read (`screenWebhook`): not configured (no
 *   JITKEY_GITHUB_WEBHOOK_SECRET) → 404, as for any route this exchanger lacks; no signature
 *   header, or one that is not `sha256=<64 hex>` → 401; an event other than `workflow_run` → 204,
 *   unread.
 * - Bodies up to 25 MiB (GitHub's own cap on a payload), hashed for the signature and charged to
 *   the sender's share of the body budget (`webhook-budget.ts`) as they arrive; nothing is parsed
 *   before the signature is known. Wrong signature: 401 and an audit row (one per client address
 *   per minute, the others counted into a summary row).
 * - `workflow_run` actions other than `completed`: 204.
 * - A `completed` delivery already acted on (same `X-GitHub-Delivery`, or same signed body):
 *   200 `{"revoked": 0, "replayed": true}`, not acted on again; audited like a replayed token
 *   (the first replay per minute, then a count).
 * - `workflow_run completed`: the run ends (`leases/end-run.ts`: the attempt recorded as
 *   completed, its approval requests closed, each of its leases ended). Answer: 200
 *   `{"revoked": N}`.
 *
 * - `deployment_protection_rule requested` (GitHub's deployment gate, when a GitHub App is set):
 *   checked, handed to the gate and answered `202` at once; the gate decides in the background and
 *   answers GitHub through its API (`gate/`). Without a GitHub App the event is ignored (204).
 */
import type { IncomingMessage } from 'node:http';
import { invalidRequest, JitkeyError } from '../errors.js';
import { auditsRefusal, type RefusalFold } from '../exchange/refusal-fold.js';
import { parseSignature, signatureCheck } from '../github/webhook-signature.js';
import { type EndRunDeps, endRun } from '../leases/end-run.js';
import { clientAddress } from '../net/client-address.js';
import { requestClient } from '../net/request-client.js';
import type { AuditClient } from '../store/audit-types.js';
import type { RunKey } from '../store/runs-types.js';
import { quote } from '../text/quote.js';
import { readSignedBody } from './webhook-body.js';
import type { BodyTicket } from './webhook-budget.js';
import type { DeliveryMemory } from './webhook-deliveries.js';

export const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;
export const WEBHOOK_PATH = '/v1/github/webhook';

export interface WebhookDeps extends EndRunDeps {
  webhookSecret?: string;
  refusals?: RefusalFold | undefined;
  /** GitHub's deployment gate (`gate/gate.ts`): without it `deployment_protection_rule` is ignored. */
  gate?: { requested(payload: Record<string, unknown>, requestId: string): void } | undefined;
}

export type WebhookOutcome =
  | { status: 204 }
  | { status: 200; revoked: number; replayed?: true }
  /** A deployment gate delivery, taken: GitHub wants its answer within 10 s, the decision comes later. */
  | { status: 202; replayed?: true };

/** What the HTTP layer hands one delivery: its share of the budget, its timeout, its slot. */
export interface WebhookIntake {
  ticket: BodyTicket;
  /** From the end of the headers to the end of the body. */
  timeoutMs: number;
  /** The deliveries this worker has acted on. */
  deliveries: DeliveryMemory;
  /** Takes an in-flight slot once the body is in and signed (throws `429` at capacity). */
  admit: () => void;
}

/**
 * The address a delivery's share is counted by, and its refusals folded by: the client address
 * (the peer, or what a trusted proxy reports; `net/client-address.ts`).
 */
export { clientAddress };

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
  if (!parseSignature(header(req, 'x-hub-signature-256'))) await refuseSignature(deps, req, requestId);
  const event = header(req, 'x-github-event');
  return event === 'workflow_run' || (event === GATE_EVENT && deps.gate) ? 'read' : 'ignore';
}

const GATE_EVENT = 'deployment_protection_rule';

/** A `workflow_run` delivery whose head passed `screenWebhook`: the body, its signature, the work. */
export async function handleWebhook(
  deps: WebhookDeps,
  req: IncomingMessage,
  requestId: string,
  intake: WebhookIntake,
): Promise<WebhookOutcome> {
  const signature = header(req, 'x-hub-signature-256');
  const { body, signed } = await readSignedBody(req, {
    limit: MAX_WEBHOOK_BYTES,
    timeoutMs: intake.timeoutMs,
    ticket: intake.ticket,
    check: signatureCheck(deps.webhookSecret ?? '', signature),
  });
  if (!signed) await refuseSignature(deps, req, requestId);
  intake.ticket.signed();
  intake.admit();
  const payload = parsePayload(body);
  if (header(req, 'x-github-event') === GATE_EVENT)
    return gateDelivery(deps, req, requestId, intake, payload);
  if (payload.action !== 'completed') return { status: 204 };
  const run = runOf(payload);
  const delivery = header(req, 'x-github-delivery') ?? '';
  const start = intake.deliveries.begin(delivery, parseSignature(signature)!.toString('hex'));
  if ('replayOf' in start) {
    await auditReplay(deps, requestId, run, delivery, start.replayOf, requestClient(req));
    return { status: 200, revoked: 0, replayed: true };
  }
  try {
    return { status: 200, revoked: await endRun(deps, run, requestId, requestClient(req)) };
  } catch (err) {
    start.failed();
    throw err;
  }
}

/**
 * `deployment_protection_rule requested`: checked and handed to the gate, which decides in the
 * background; the same delivery again (GitHub's redelivery, a replay) is not worked on twice.
 */
function gateDelivery(
  deps: WebhookDeps,
  req: IncomingMessage,
  requestId: string,
  intake: WebhookIntake,
  payload: Payload,
): WebhookOutcome {
  if (payload.action !== 'requested' || !deps.gate) return { status: 204 };
  const signature = parseSignature(header(req, 'x-hub-signature-256'))!.toString('hex');
  const start = intake.deliveries.begin(header(req, 'x-github-delivery') ?? '', signature);
  if ('replayOf' in start) return { status: 202, replayed: true };
  try {
    deps.gate.requested(payload as Record<string, unknown>, requestId);
  } catch (err) {
    start.failed();
    throw err;
  }
  return { status: 202 };
}

/** A signed delivery seen before: its first replay per minute gets a row, the rest a count. */
async function auditReplay(
  deps: WebhookDeps,
  requestId: string,
  run: RunKey,
  delivery: string,
  first: string,
  client: AuditClient,
): Promise<void> {
  const subject = `delivery ${quote(first, 64)}`;
  if (deps.refusals && !(await deps.refusals.admit(subject, 'webhook', 'delivery_replayed'))) return;
  await deps.store.record({
    at: deps.now(),
    requestId,
    event: 'webhook',
    outcome: 'denied',
    errorCode: 'delivery_replayed',
    reason: `GitHub webhook delivery ${quote(delivery, 64)} replays ${subject} (same delivery id or same signed body): not acted on again`,
    claims: { repository_id: run.repositoryId, run_id: run.runId, run_attempt: run.runAttempt },
    ...client,
  });
}

/** Audits (folded per client address, as anyone can send these) and throws the 401. */
async function refuseSignature(deps: WebhookDeps, req: IncomingMessage, requestId: string): Promise<never> {
  if (await auditsRefusal(deps.refusals, { peer: clientAddress(req), event: 'webhook' })) {
    await deps.store.record({
      at: deps.now(),
      requestId,
      event: 'webhook',
      outcome: 'denied',
      errorCode: 'invalid_token',
      reason: `GitHub webhook refused: missing or wrong X-Hub-Signature-256 (event ${quote(header(req, 'x-github-event') ?? '', 64)}, delivery ${quote(header(req, 'x-github-delivery') ?? '', 64)})`,
      claims: {},
      ...requestClient(req),
    });
  }
  throw new JitkeyError(
    'invalid_token',
    'X-Hub-Signature-256 is missing or does not match: the webhook secret in GitHub must equal JITKEY_GITHUB_WEBHOOK_SECRET',
  );
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

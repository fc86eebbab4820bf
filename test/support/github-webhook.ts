/**
 * GitHub's `workflow_run` webhook as GitHub sends it to `POST /v1/github/webhook`: the payload's
 * fields jitkey reads, signed with X-Hub-Signature-256 (HMAC-SHA256 of the raw body).
 *
 *   await deliverWebhook(exchanger.url, SECRET, workflowRun(9876543210, 1));
 */
import { signBody } from '../../exchanger/github/webhook-signature.js';

export const workflowRun = (runId: number | string, attempt: number, action = 'completed') => ({
  action,
  repository: { id: 123456, full_name: 'acme/web' },
  workflow_run: { id: Number(runId), run_attempt: attempt, status: 'completed', conclusion: 'success' },
});

export async function deliverWebhook(
  exchangerUrl: string,
  secret: string,
  payload: unknown,
  /** `signature: null` sends none; a string is sent instead of the right one. */
  options: { event?: string; signature?: string | null } = {},
  // biome-ignore lint/suspicious/noExplicitAny: test answers are inspected field by field
): Promise<{ status: number; body: any }> {
  const body = JSON.stringify(payload);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-github-event': options.event ?? 'workflow_run',
    'x-github-delivery': 'delivery-1',
  };
  const signature = options.signature === undefined ? signBody(secret, body) : options.signature;
  if (signature !== null) headers['x-hub-signature-256'] = signature;
  const res = await fetch(`${exchangerUrl}/v1/github/webhook`, { method: 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

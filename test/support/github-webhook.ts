/**
 * GitHub's `workflow_run` webhook as GitHub sends it to `POST /v1/github/webhook`: the payload's
 * fields jitkey reads, signed with X-Hub-Signature-256 (HMAC-SHA256 of the raw body), under a new
 * `X-GitHub-Delivery` id each time unless one is given (GitHub's redelivery keeps the id).
 *
 *   await deliverWebhook(exchanger.url, SECRET, workflowRun(9876543210, 1));
 *   await deliverWebhook(exchanger.url, SECRET, payload, { delivery: 'd-1', localAddress: '127.0.0.3' });
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { signBody } from '../../exchanger/github/webhook-signature.js';

export const workflowRun = (runId: number | string, attempt: number, action = 'completed') => ({
  action,
  repository: { id: 123456, full_name: 'acme/web' },
  workflow_run: { id: Number(runId), run_attempt: attempt, status: 'completed', conclusion: 'success' },
});

export interface DeliveryOptions {
  event?: string;
  /** `null` sends none; a string is sent instead of the right one. */
  signature?: string | null;
  /** The `X-GitHub-Delivery` id (default: a new UUID). */
  delivery?: string;
  /** The loopback address to send from (127.0.0.0/8 all reach a server on 127.0.0.1). */
  localAddress?: string;
}

export async function deliverWebhook(
  exchangerUrl: string,
  secret: string,
  payload: unknown,
  options: DeliveryOptions = {},
  // biome-ignore lint/suspicious/noExplicitAny: test answers are inspected field by field
): Promise<{ status: number; body: any }> {
  const body = JSON.stringify(payload);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'x-github-event': options.event ?? 'workflow_run',
    'x-github-delivery': options.delivery ?? randomUUID(),
  };
  const signature = options.signature === undefined ? signBody(secret, body) : options.signature;
  if (signature !== null) headers['x-hub-signature-256'] = signature;
  const url = new URL('/v1/github/webhook', exchangerUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers,
        agent: false,
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

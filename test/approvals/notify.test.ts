/** The notify webhook: what it sends (no secrets), where (https; http on loopback), and that failing is harmless. */
import { describe, expect, it } from 'vitest';
import { notify, notifyPayload, publicUrlFromEnv } from '../../exchanger/approvals/notify.js';
import { approvalRequest } from '../store/approvals-contract.js';
import { captureLog } from '../store/contract.js';

const request = approvalRequest({ id: 'req_n1' });

function recordingFetch(answer: () => Promise<Response>) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fetch = (async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    return answer();
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

describe('notifyPayload', () => {
  it('names the request, the job and the approvers, and the command to approve', () => {
    expect(notifyPayload(request, 'https://jitkey.acme.example')).toEqual({
      event: 'approval_requested',
      request_id: 'req_n1',
      role: 'db-admin',
      repository: 'acme/db-ops',
      ref: 'refs/heads/main',
      run_id: '42',
      run_attempt: '1',
      actor: 'bob',
      approvers: ['alice', 'acme/platform-leads'],
      required: 1,
      created_at: '2025-03-01T12:00:00.000Z',
      expires_at: '2025-03-01T12:30:00.000Z',
      approve_command: 'jitkey approve req_n1 --url https://jitkey.acme.example',
    });
  });

  it('carries no hash, no actor_id and no poll token field', () => {
    const text = JSON.stringify(notifyPayload(request));
    expect(text).not.toContain(request.pollTokenHash);
    expect(text).not.toMatch(/poll|token|actor_id/);
    expect(notifyPayload(request).approve_command).toBe('jitkey approve req_n1 --url <exchanger URL>');
  });
});

describe('notify', () => {
  it('POSTs JSON, follows no redirect, and logs the URL without its query', async () => {
    const log = captureLog();
    const { fetch, calls } = recordingFetch(async () => new Response(null, { status: 204 }));
    await notify({ fetch, log }, 'https://hooks.acme.example/jitkey?key=s3cret', request);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.init).toMatchObject({
      method: 'POST',
      // The HTTP core sees the redirect and refuses it (`net/http-client.ts`): never followed.
      redirect: 'manual',
      headers: { 'content-type': 'application/json' },
    });
    expect(JSON.parse(String(calls[0]!.init.body)).request_id).toBe('req_n1');
    expect(log.lines).toEqual([
      {
        level: 'info',
        msg: 'approval notification sent',
        fields: { request_id: 'req_n1', url: 'https://hooks.acme.example/jitkey' },
      },
    ]);
  });

  it.each([
    ['a refusal', async () => new Response('no', { status: 500 }), 'approval notification refused'],
    [
      'a network failure',
      async () => Promise.reject(new TypeError('fetch failed')),
      'approval notification failed',
    ],
    [
      'a redirect',
      async () => new Response(null, { status: 302, headers: { location: 'https://elsewhere.example/' } }),
      'approval notification failed',
    ],
  ])('%s is logged as a warning, never thrown', async (_name, answer, msg) => {
    const log = captureLog();
    const { fetch } = recordingFetch(answer as () => Promise<Response>);
    await expect(notify({ fetch, log }, 'https://hooks.acme.example/x', request)).resolves.toBeUndefined();
    expect(log.lines.map((l) => [l.level, l.msg])).toEqual([['warn', msg]]);
  });

  it('gives up at its timeout', async () => {
    const log = captureLog();
    const hanging = (async (_url: string | URL | Request, init?: RequestInit) =>
      new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
      )) as typeof globalThis.fetch;
    await notify({ fetch: hanging, log, timeoutMs: 10 }, 'https://hooks.acme.example/x', request);
    expect(log.lines.map((l) => l.msg)).toEqual(['approval notification failed']);
  });

  it('plain http only to loopback: anything else is not sent', async () => {
    const log = captureLog();
    const { fetch, calls } = recordingFetch(async () => new Response(null, { status: 204 }));
    await notify({ fetch, log }, 'http://hooks.acme.example/x', request);
    expect(calls).toEqual([]);
    expect(log.lines[0]).toMatchObject({
      level: 'warn',
      msg: 'approval notification not sent: the notify URL is not allowed',
    });
    await notify({ fetch, log }, 'http://127.0.0.1:9/x', request);
    expect(calls).toHaveLength(1);
  });
});

describe('JITKEY_PUBLIC_URL', () => {
  it('is optional, checked like every endpoint, and loses its trailing slash', () => {
    expect(publicUrlFromEnv({})).toBeUndefined();
    expect(publicUrlFromEnv({ JITKEY_PUBLIC_URL: 'https://jitkey.acme.example/' })).toBe(
      'https://jitkey.acme.example',
    );
    expect(() => publicUrlFromEnv({ JITKEY_PUBLIC_URL: 'http://jitkey.acme.example' })).toThrow(
      /JITKEY_PUBLIC_URL/,
    );
  });
});

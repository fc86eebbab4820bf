/** `jitkey requests`, `approve` and `deny` with a fake exchanger: what they send, print and exit with. */
import { describe, expect, it } from 'vitest';
import { cleanReason } from '../../exchanger/approvals/service.js';
import type { RequestView } from '../../exchanger/approvals/views.js';
import { approveCommand, denyCommand, describeDecision } from '../../exchanger/cli/approve.js';
import { UsageError } from '../../exchanger/cli/args.js';
import { requests } from '../../exchanger/cli/requests.js';
import { parseReason } from '../../exchanger/server/approval-routes.js';

const NOW = new Date('2025-03-01T12:10:00.000Z');
const VIEW: RequestView = {
  request_id: 'req_abc',
  status: 'pending',
  role: 'db-admin',
  repository: 'acme/db-ops',
  ref: 'refs/heads/main',
  run_id: '42',
  run_attempt: '1',
  actor: 'bob',
  created_at: '2025-03-01T12:00:00.000Z',
  expires_at: '2025-03-01T12:30:00.000Z',
  approvers: ['alice', 'acme/leads'],
  required: 1,
  approvals: [],
};

function fakeExchanger(answer: (path: string, init: RequestInit) => { status: number; body: unknown }) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fetch = (async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    const { status, body } = answer(new URL(String(url)).pathname, init ?? {});
    return new Response(JSON.stringify(body), { status });
  }) as typeof globalThis.fetch;
  const out: string[] = [];
  const err: string[] = [];
  return {
    calls,
    out,
    err,
    deps: (env: Record<string, string> = { GH_TOKEN: 'gho_alice' }) => ({
      env,
      fetch,
      now: () => NOW,
      out: (t: string) => void out.push(t),
      err: (t: string) => void err.push(t),
    }),
  };
}

describe('jitkey requests', () => {
  it('asks with the GitHub token from GH_TOKEN and prints a table with age and expiry', async () => {
    const ex = fakeExchanger(() => ({ status: 200, body: { approver: 'alice', requests: [VIEW] } }));
    expect(await requests(['--url', 'https://jitkey.acme.example/'], ex.deps())).toBe(0);
    expect(ex.calls[0]!.url).toBe('https://jitkey.acme.example/v1/requests?status=pending');
    expect((ex.calls[0]!.init.headers as Record<string, string>).authorization).toBe('Bearer gho_alice');
    const [table] = ex.out;
    expect(table!.split('\n')[1]).toMatch(
      /^req_abc\s+db-admin\s+acme\/db-ops\s+refs\/heads\/main\s+bob\s+42\/1\s+10m\s+0\/1\s+20m$/,
    );
  });

  it('falls back to GITHUB_TOKEN, and says so when there is nothing to decide', async () => {
    const ex = fakeExchanger(() => ({ status: 200, body: { approver: 'alice', requests: [] } }));
    expect(await requests(['--url', 'https://x.example'], ex.deps({ GITHUB_TOKEN: 'gho_ci' }))).toBe(0);
    expect((ex.calls[0]!.init.headers as Record<string, string>).authorization).toBe('Bearer gho_ci');
    expect(ex.out).toEqual(['no pending requests that alice may approve\n']);
  });

  it.each([
    [['--url', 'https://x.example'], {}, /set GH_TOKEN or GITHUB_TOKEN/],
    [[], { GH_TOKEN: 'gho' }, /--url is required/],
    [['--url', 'http://jitkey.acme.example'], { GH_TOKEN: 'gho' }, /must use https/],
  ])('usage errors: %j', async (argv, env, message) => {
    const ex = fakeExchanger(() => ({ status: 500, body: {} }));
    await expect(requests(argv, ex.deps(env))).rejects.toThrow(UsageError);
    await expect(requests(argv, ex.deps(env))).rejects.toThrow(message);
    expect(ex.calls).toEqual([]);
  });
});

describe('jitkey approve / deny', () => {
  it('approve posts the reason and prints what was approved and where it stands', async () => {
    const ex = fakeExchanger(() => ({
      status: 200,
      body: {
        ...VIEW,
        status: 'approved',
        expires_at: '2025-03-01T12:20:00.000Z',
        approvals: [{ login: 'alice', at: '2025-03-01T12:10:00.000Z' }],
      },
    }));
    const code = await approveCommand(
      ['req_abc', '--url', 'https://x.example', '--reason', 'migration'],
      ex.deps(),
    );
    expect(code).toBe(0);
    expect(ex.calls[0]!.url).toBe('https://x.example/v1/requests/req_abc/approve');
    expect(JSON.parse(String(ex.calls[0]!.init.body))).toEqual({ reason: 'migration' });
    expect(ex.out.join('')).toBe(
      'Approved request req_abc: role db-admin for acme/db-ops (refs/heads/main), run 42/1, started by bob.\n' +
        'Status: approved (1 of 1 approvals); the job redeems its credentials by 2025-03-01T12:20:00.000Z.\n',
    );
  });

  it('a refusal prints status, code and message and exits 1', async () => {
    const ex = fakeExchanger(() => ({
      status: 403,
      body: { error: 'self_approval', message: 'bob started this job', request_id: 'req_h' },
    }));
    expect(await approveCommand(['req_abc', '--url', 'https://x.example'], ex.deps())).toBe(1);
    expect(ex.err).toEqual(['403 self_approval: bob started this job\n']);
  });

  it('an exchanger that cannot be reached exits 1 saying so', async () => {
    const ex = fakeExchanger(() => ({ status: 200, body: {} }));
    const deps = {
      ...ex.deps(),
      fetch: (async () => Promise.reject(new TypeError('fetch failed'))) as typeof fetch,
    };
    expect(await approveCommand(['req_abc', '--url', 'https://x.example'], deps)).toBe(1);
    expect(ex.err[0]).toMatch(/^unreachable: cannot reach the exchanger at https:\/\/x.example/);
  });

  it('deny needs --reason; approve and deny need exactly one ID', async () => {
    const ex = fakeExchanger(() => ({ status: 200, body: VIEW }));
    await expect(denyCommand(['req_abc', '--url', 'https://x.example'], ex.deps())).rejects.toThrow(
      /--reason is required/,
    );
    await expect(approveCommand(['--url', 'https://x.example'], ex.deps())).rejects.toThrow(/the request ID/);
    await expect(approveCommand(['a', 'b', '--url', 'https://x.example'], ex.deps())).rejects.toThrow(
      /exactly one/,
    );
    expect(ex.calls).toEqual([]);
  });

  it('describes a denial and a request still waiting for more approvals', () => {
    expect(
      describeDecision('deny', { ...VIEW, status: 'denied', reason: 'freeze', denied_by: 'alice' }),
    ).toContain('Status: denied by alice; the job fails with: freeze');
    const waiting = describeDecision('approve', {
      ...VIEW,
      required: 2,
      approvals: [{ login: 'alice', at: '' }],
    });
    expect(waiting).toContain('Status: pending (1 of 2 approvals); 1 more needed from alice, acme/leads.');
  });

  it('replaces control characters a claim could carry', () => {
    expect(describeDecision('approve', { ...VIEW, ref: 'refs/heads/x\u001b[31m' })).not.toContain('\u001b');
  });
});

describe('reasons', () => {
  it('are one clean line, bounded; deny needs one; unknown fields are refused', () => {
    expect(cleanReason('  line one\nline\u0007two  ')).toBe('line one line two');
    expect(cleanReason('x'.repeat(600))).toHaveLength(500);
    expect(parseReason({}, 'approve')).toBeUndefined();
    expect(parseReason({ reason: ' ok ' }, 'approve')).toBe('ok');
    expect(() => parseReason({ reason: ' \n ' }, 'deny')).toThrow(/a denial needs a 'reason'/);
    expect(() => parseReason({ reason: 3 }, 'approve')).toThrow(/must be a string/);
    expect(() => parseReason({ why: 'x' }, 'approve')).toThrow(/unknown field 'why'/);
    // An unknown field's name is quoted and cut, as everywhere: it reaches the log line.
    expect(() => parseReason({ [`w${'h'.repeat(5_000)}`]: 'x' }, 'deny')).toThrow(
      /^unknown field 'wh{119}…': the body takes 'reason'$/,
    );
  });
});

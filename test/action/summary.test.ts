import { describe, expect, it } from 'vitest';
import { cell, jobContext, renderFailureSummary, renderSummary } from '../../src/main/summary.js';

const job = jobContext({
  GITHUB_REPOSITORY: 'acme/web',
  GITHUB_WORKFLOW: 'Deploy',
  GITHUB_JOB: 'deploy',
  GITHUB_RUN_ID: '9876',
  GITHUB_RUN_ATTEMPT: '2',
  GITHUB_SERVER_URL: 'https://github.example.com',
});

describe('summary', () => {
  it('reads the job from GITHUB_* variables', () => {
    expect(job).toEqual({
      repository: 'acme/web',
      workflow: 'Deploy',
      job: 'deploy',
      runUrl: 'https://github.example.com/acme/web/actions/runs/9876',
      runAttempt: '2',
    });
    expect(jobContext({})).toEqual({
      repository: undefined,
      workflow: undefined,
      job: undefined,
      runUrl: undefined,
      runAttempt: undefined,
    });
  });

  it('records role, provider, expiry, lease id, exported names and the job', () => {
    const md = renderSummary({
      lease: {
        role: 'deploy-web-prod',
        provider: 'aws',
        expiresAt: '2030-01-01T00:15:00Z',
        leaseId: 'lease_1',
      },
      exported: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
      job,
    });
    expect(md).toBe(
      [
        '### jitkey: credentials issued for role deploy-web-prod',
        '',
        '| | |',
        '|---|---|',
        '| Role | deploy-web-prod |',
        '| Provider | aws |',
        '| Expires | 2030-01-01T00:15:00Z |',
        '| Lease | lease_1 |',
        '| Exported variables | AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY |',
        '| Repository | acme/web |',
        '| Workflow | Deploy |',
        '| Job | deploy |',
        '| Run | [9876](https://github.example.com/acme/web/actions/runs/9876) (attempt 2) |',
        '',
      ].join('\n'),
    );
  });

  it('names the approvers and who approved', () => {
    const md = renderSummary({
      lease: { role: 'r', provider: 'github', expiresAt: 'x', leaseId: 'l' },
      exported: [],
      approval: {
        pending: { approvers: ['alice', 'acme/sre'], required: 2, requestId: 'req_1' },
        status: {
          status: 'approved',
          approvals: [
            { login: 'alice', at: 't1' },
            { login: 'bob', at: 't2' },
          ],
          reason: undefined,
        },
      },
      job: {},
    });
    expect(md).toContain('| Exported variables | (none) |');
    expect(md).toContain('| Approvers | alice, acme/sre (2 required) |');
    expect(md).toContain('| Approved by | alice at t1, bob at t2 |');
    expect(md).toContain('| Approval request | req_1 |');
  });

  it('keeps token-supplied values from breaking the table or adding HTML', () => {
    expect(cell('refs/heads/a|b<script>\nx')).toBe('refs/heads/a\\|b&lt;script&gt; x');
    const md = renderFailureSummary({
      role: 'r',
      message: 'denied:\n  ref <x>',
      claims: [['ref', 'refs/heads/<img src=x>|y']],
      job: {},
    });
    expect(md).toContain('> denied:\n>   ref &lt;x&gt;');
    expect(md).toContain('| ref | refs/heads/&lt;img src=x&gt;\\|y |');
  });
});

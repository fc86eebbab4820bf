/**
 * The job summary (GITHUB_STEP_SUMMARY): role, provider, expiry, lease id, approvers and the job it
 * served. Never a secret: only fields that are not credentials go in. The job context comes from the
 * runner's GITHUB_* variables (`@actions/github`'s context would bring octokit into the bundle).
 */
import type { Lease, PendingApproval, RequestStatus } from '../shared/api.js';

export interface JobContext {
  repository?: string | undefined;
  workflow?: string | undefined;
  job?: string | undefined;
  runUrl?: string | undefined;
  runAttempt?: string | undefined;
}

export function jobContext(env: Readonly<Record<string, string | undefined>>): JobContext {
  const server = env.GITHUB_SERVER_URL || 'https://github.com';
  const repository = env.GITHUB_REPOSITORY;
  const runId = env.GITHUB_RUN_ID;
  return {
    repository,
    workflow: env.GITHUB_WORKFLOW,
    job: env.GITHUB_JOB,
    runUrl: repository && runId ? `${server}/${repository}/actions/runs/${runId}` : undefined,
    runAttempt: env.GITHUB_RUN_ATTEMPT,
  };
}

export interface IssuedSummary {
  lease: Pick<Lease, 'role' | 'provider' | 'expiresAt' | 'leaseId'>;
  exported: string[];
  approval?: {
    pending: Pick<PendingApproval, 'approvers' | 'required' | 'requestId'>;
    status: RequestStatus;
  };
  job: JobContext;
}

export function renderSummary(s: IssuedSummary): string {
  const rows: Array<[string, string]> = [
    ['Role', cell(s.lease.role)],
    ['Provider', cell(s.lease.provider)],
    ['Expires', cell(s.lease.expiresAt)],
    ['Lease', cell(s.lease.leaseId)],
    ['Exported variables', s.exported.length ? s.exported.map(cell).join(', ') : '(none)'],
  ];
  if (s.approval) {
    const { pending, status } = s.approval;
    rows.push([
      'Approvers',
      `${pending.approvers.map(cell).join(', ') || '(per policy)'} (${pending.required} required)`,
    ]);
    rows.push([
      'Approved by',
      status.approvals.map((a) => `${cell(a.login)}${a.at ? ` at ${cell(a.at)}` : ''}`).join(', ') ||
        '(not reported)',
    ]);
    rows.push(['Approval request', cell(pending.requestId)]);
  }
  rows.push(...jobRows(s.job));
  return `### jitkey: credentials issued for role ${cell(s.lease.role)}\n\n${table(rows)}\n`;
}

export function renderFailureSummary(f: {
  role: string;
  message: string;
  claims?: Array<[string, string]> | undefined;
  job: JobContext;
}): string {
  const lines = [
    `### jitkey: no credentials for role ${cell(f.role || '(unknown)')}`,
    '',
    f.message
      .split('\n')
      .map((l) => `> ${escapeHtml(l)}`)
      .join('\n'),
    '',
  ];
  if (f.claims?.length) {
    lines.push("The job's OIDC token carries:", '', table(f.claims.map(([k, v]) => [cell(k), cell(v)])), '');
  }
  const job = jobRows(f.job);
  if (job.length) lines.push(table(job), '');
  return `${lines.join('\n')}\n`;
}

function jobRows(job: JobContext): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  if (job.repository) rows.push(['Repository', cell(job.repository)]);
  if (job.workflow) rows.push(['Workflow', cell(job.workflow)]);
  if (job.job) rows.push(['Job', cell(job.job)]);
  if (job.runUrl) {
    const attempt = job.runAttempt ? ` (attempt ${cell(job.runAttempt)})` : '';
    rows.push(['Run', `[${cell(job.runUrl.split('/').pop() ?? '')}](${job.runUrl})${attempt}`]);
  }
  return rows;
}

function table(rows: Array<[string, string]>): string {
  return ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
}

/** A value in a Markdown table cell: no HTML, no cell breaks, no line breaks. */
export function cell(value: string): string {
  return escapeHtml(value)
    .replace(/\|/g, '\\|')
    .replace(/[\r\n]+/g, ' ');
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

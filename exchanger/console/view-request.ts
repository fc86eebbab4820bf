/**
 * One request: every claim recorded with it, what its role grants and where the policy says so,
 * its approvals so far, its whole audit history, and (while pending) the Approve and Deny forms.
 */
import type { RequestDetail } from '../approvals/read.js';
import { type Html, href, html } from './html.js';
import { runUrl, workflowUrl } from './links.js';
import type { RoleSummary } from './role-summary.js';
import type { SignedIn } from './session.js';
import { duration, timeLeft, when } from './view-format.js';
import { layout, notice } from './view-layout.js';

export interface RequestPageOptions {
  who: SignedIn;
  detail: RequestDetail;
  role: RoleSummary | undefined;
  now: Date;
  githubWebUrl: string;
  error?: string | undefined;
  done?: string | undefined;
}

/** Claims in the order an approver reads them; any other recorded claim follows. */
const CLAIM_ORDER = [
  'repository',
  'ref',
  'environment',
  'event_name',
  'actor',
  'workflow_ref',
  'job_workflow_ref',
  'job_workflow_sha',
  'sha',
  'run_id',
  'run_attempt',
  'repository_id',
  'actor_id',
];

export function requestPage(o: RequestPageOptions): Html {
  const v = o.detail.view;
  const claims = o.detail.claims;
  const names = [
    ...CLAIM_ORDER.filter((n) => claims[n] !== undefined),
    ...Object.keys(claims)
      .filter((n) => !CLAIM_ORDER.includes(n))
      .sort(),
  ];
  const run = runUrl(o.githubWebUrl, claims);
  const workflow = workflowUrl(o.githubWebUrl, claims);
  // Another CI system's job, in its own terms (`ci-job.ts`): `GitLab CI/CD job 302 of pipeline 574`.
  const job = v.job;
  const subject = v.repository ?? job?.project ?? 'a job';
  const jobText = job && [job.system, job.run, job.job].filter(Boolean).join(' ');
  const jobLink = job?.url ? href(job.url) : undefined;
  return layout(
    { title: `${v.role} for ${subject}`, who: o.who, section: '/console/' },
    html`<p class="crumbs"><a href="/console/">My queue</a></p>
<h1>${v.role} <span class="muted">for</span> ${subject}</h1>
${o.error ? notice('error', o.error) : ''}
${o.done ? notice('ok', o.done) : ''}
<p class="status status-${v.status}">Status: <strong>${v.status}</strong>${
      v.status === 'pending' || v.status === 'approved'
        ? html` · ${timeLeft(v.expires_at, o.now)} left (until ${when(v.expires_at)})`
        : ''
    }</p>
${v.status === 'denied' ? html`<p>Denied by ${v.denied_by ?? 'an approver'}: ${v.reason ?? ''}</p>` : ''}
<p class="links">${run ? html`<a href="${href(run)}">Run ${claims.run_id} attempt ${claims.run_attempt} on GitHub</a>` : ''}
${jobText ? (jobLink ? html`<a href="${jobLink}">${jobText}</a>` : html`<span>${jobText}</span>`) : ''}
${workflow ? html`<a href="${href(workflow)}">Workflow file at ${claims.job_workflow_sha?.slice(0, 12)}</a>` : ''}</p>
${v.status === 'pending' ? decisionForms(o.who, v.request_id) : ''}
<section aria-labelledby="claims-h">
<h2 id="claims-h">The job</h2>
<dl class="facts wide">
${names.map((n) => html`<dt>${n}</dt><dd><code>${claims[n]}</code></dd>`)}
<dt>requested duration</dt><dd>${duration(o.detail.durationSeconds)}</dd>
<dt>request id</dt><dd><code>${v.request_id}</code></dd>
<dt>asked at</dt><dd>${when(v.created_at)}</dd>
</dl>
</section>
${roleSection(v.role, o.role)}
<section aria-labelledby="approvals-h">
<h2 id="approvals-h">Approvals: ${v.approvals.length} of ${v.required}</h2>
<p>Approvers: ${v.approvers.join(', ')}</p>
${
  v.approvals.length
    ? html`<ul>${v.approvals.map((a) => html`<li>${a.login} at ${when(a.at)}${a.reason ? html`: ${a.reason}` : ''}</li>`)}</ul>`
    : html`<p class="muted">None yet.</p>`
}
</section>
${history(o.detail)}`,
  );
}

function decisionForms(who: SignedIn, id: string): Html {
  const base = `/console/requests/${encodeURIComponent(id)}`;
  return html`<section class="decide" aria-labelledby="decide-h">
<h2 id="decide-h">Your decision</h2>
<form method="post" action="${href(`${base}/approve`)}" class="decision">
<input type="hidden" name="csrf" value="${who.csrf}">
<label for="approve-note">Note (optional)</label>
<textarea id="approve-note" name="note" maxlength="500" rows="2"></textarea>
<button type="submit" class="primary">Approve</button>
</form>
<form method="post" action="${href(`${base}/deny`)}" class="decision">
<input type="hidden" name="csrf" value="${who.csrf}">
<label for="deny-reason">Reason (required: the job's log shows it)</label>
<textarea id="deny-reason" name="reason" maxlength="500" rows="2" required></textarea>
<button type="submit" class="danger">Deny</button>
</form>
</section>`;
}

function roleSection(name: string, role: RoleSummary | undefined): Html {
  if (!role) {
    return html`<section aria-labelledby="role-h"><h2 id="role-h">The role</h2>
<p>Role ${name} is no longer in the policy: the approvers recorded with the request decide it.</p></section>`;
  }
  return html`<section aria-labelledby="role-h">
<h2 id="role-h">What role ${name} grants</h2>
<dl class="facts wide">
<dt>Provider</dt><dd>${role.provider}</dd>
${role.grants.map(([label, value]) => html`<dt>${label}</dt><dd><code>${value}</code></dd>`)}
<dt>Defined at</dt><dd><code>${role.definedAt ?? 'the policy'}</code></dd>
<dt>Rule that held</dt><dd>${role.matchedRule ? html`<code>${role.matchedRule}</code>` : 'not decidable from the claims recorded with the request'}</dd>
</dl>
</section>`;
}

function history(detail: RequestDetail): Html {
  return html`<section aria-labelledby="history-h">
<h2 id="history-h">History</h2>
<div class="scroll" role="region" aria-labelledby="history-h" tabindex="0">
<table>
<thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">Outcome</th><th scope="col">Who</th><th scope="col">Details</th></tr></thead>
<tbody>
${detail.history.map(
  (row) =>
    html`<tr><td>${when(row.at)}</td><td>${row.event}</td><td>${row.outcome}${row.errorCode ? html` (${row.errorCode})` : ''}</td><td>${row.actor ?? ''}</td><td>${row.reason}</td></tr>`,
)}
</tbody>
</table>
</div>
</section>`;
}

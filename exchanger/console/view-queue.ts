/** My queue: the pending requests this person may decide, newest first, each with what to decide on. */
import type { RequestView } from '../approvals/views.js';
import { type Html, href, html } from './html.js';
import { runUrl, workflowUrl } from './links.js';
import type { SignedIn } from './session.js';
import { timeLeft, when } from './view-format.js';
import { layout } from './view-layout.js';

export interface QueueItem {
  view: RequestView;
  provider?: string | undefined;
  /** The recorded claims, for the links. */
  claims: Readonly<Record<string, string>>;
  durationText: string;
}

export function queuePage(options: {
  who: SignedIn;
  items: QueueItem[];
  /** How many are waiting in all (`items` holds the newest of them). */
  total: number;
  now: Date;
  githubWebUrl: string;
}): Html {
  const { who, items, now } = options;
  const body = items.length
    ? html`<ul class="cards">${items.map((item) => card(item, now, options.githubWebUrl))}</ul>`
    : html`<p class="empty">Nothing is waiting for you. Requests you may decide appear here as jobs ask.</p>`;
  return layout(
    { title: 'My queue', who, section: '/console/' },
    html`<h1>My queue</h1>
<p class="lead">${options.total} pending request${options.total === 1 ? '' : 's'} you may decide, newest first${
      options.total > items.length ? `; the newest ${items.length} are shown` : ''
    }.</p>
${body}`,
  );
}

function card(item: QueueItem, now: Date, web: string): Html {
  const v = item.view;
  const run = runUrl(web, item.claims);
  const workflow = workflowUrl(web, item.claims);
  const path = `/console/requests/${encodeURIComponent(v.request_id)}`;
  // Another CI system's job in its own terms (`ci-job.ts`): project, run, job and its link.
  const job = v.job;
  const subject = v.repository ?? job?.project ?? 'an unnamed repository';
  const jobText = job && [job.system, job.run, job.job].filter(Boolean).join(' ');
  const jobLink = job?.url ? href(job.url) : undefined;
  return html`<li class="card">
<h2><a href="${href(path)}">${v.role}</a> <span class="muted">for</span> ${subject}</h2>
<dl class="facts">
<dt>Provider</dt><dd>${item.provider ?? 'unknown (role no longer in the policy)'}</dd>
<dt>Ref</dt><dd><code>${v.ref ?? job?.ref ?? '—'}</code></dd>
${v.environment !== undefined ? html`<dt>Environment</dt><dd>${v.environment}</dd>` : ''}
<dt>Event</dt><dd>${v.event_name ?? '—'}</dd>
<dt>Actor</dt><dd>${v.actor ?? job?.actor ?? '—'}</dd>
<dt>Duration</dt><dd>${item.durationText}</dd>
<dt>Approvals</dt><dd>${v.approvals.length} of ${v.required}</dd>
<dt>Time left</dt><dd>${timeLeft(v.expires_at, now)} <span class="muted">(until ${when(v.expires_at)})</span></dd>
</dl>
<p class="links">
<a class="button" href="${href(path)}">Review<span class="visually-hidden"> ${v.role} for ${subject}</span></a>
${jobText ? (jobLink ? html`<a href="${jobLink}">${jobText}</a>` : html`<span>${jobText}</span>`) : ''}
${run ? html`<a href="${href(run)}">Run ${v.run_id} attempt ${v.run_attempt}</a>` : ''}
${workflow ? html`<a href="${href(workflow)}">Workflow file</a>` : ''}
</p>
</li>`;
}

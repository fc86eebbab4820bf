/**
 * The audit trail: a filter form, one keyset page of rows newest first, links to the next page
 * and downloads of every filtered row (JSON lines, CSV). Admins see every row; anyone else the
 * rows of the requests they decided.
 */

import { AUDIT_OUTCOMES } from '../audit/query.js';
import { jobName } from '../ci-job.js';
import type { AuditEntry, AuditPage } from '../store/audit-types.js';
import { type AuditFields, auditQuery, cursorParam } from './audit-filter.js';
import { type Html, href, html } from './html.js';
import type { SignedIn } from './session.js';
import { when } from './view-format.js';
import { layout } from './view-layout.js';
import { PROVIDERS } from './view-leases.js';

export function auditPage(o: {
  who: SignedIn;
  admin: boolean;
  page: AuditPage;
  fields: AuditFields;
  first: boolean;
}): Html {
  const f = o.fields;
  const text = (name: keyof AuditFields, label: string, placeholder: string) =>
    html`<div class="field"><label for="a-${name}">${label}</label><input id="a-${name}" name="${name}" value="${f[name] ?? ''}" placeholder="${placeholder}" autocomplete="off"></div>`;
  const choice = (name: keyof AuditFields, label: string, options: readonly string[]) =>
    html`<div class="field"><label for="a-${name}">${label}</label><select id="a-${name}" name="${name}"><option value="">any</option>${options.map(
      (v) => html`<option value="${v}"${f[name] === v ? html` selected` : ''}>${v}</option>`,
    )}</select></div>`;
  const rows = o.page.entries;
  return layout(
    { title: 'Audit', who: o.who, section: '/console/audit' },
    html`<h1>Audit trail</h1>
<p class="lead">${o.admin ? 'Every row, newest first.' : 'The rows of the requests you approved or denied, newest first.'}</p>
<form class="filters" method="get" action="/console/audit">
${text('since', 'From', '24h or 2026-12-01')}
${text('until', 'Until', '1h or 2026-12-02T08:00:00Z')}
${text('repository', 'Repository', 'owner/name')}
${text('role', 'Role', 'role name')}
${choice('provider', 'Provider', PROVIDERS)}
${choice('outcome', 'Outcome', AUDIT_OUTCOMES)}
${text('actor', 'Actor', 'GitHub login')}
${text('request_id', 'Request id', 'req_…')}
<button type="submit">Filter</button>
</form>
<p class="links">Download every row that matches:
<a href="${href(`/console/audit/export${auditQuery(f, { format: 'jsonl' })}`)}" download>JSON lines</a>
<a href="${href(`/console/audit/export${auditQuery(f, { format: 'csv' })}`)}" download>CSV</a></p>
${rows.length ? table(rows) : html`<p class="empty">No row matches${o.first ? '' : ' on this page'}.</p>`}
<nav class="pager" aria-label="Pages">
${o.first ? '' : html`<a href="${href(`/console/audit${auditQuery(f)}`)}">Newest rows</a>`}
${o.page.next ? html`<a href="${href(`/console/audit${auditQuery(f, { after: cursorParam(o.page.next) })}`)}">Older rows</a>` : ''}
</nav>`,
  );
}

function table(rows: readonly AuditEntry[]): Html {
  return html`<div class="scroll" role="region" aria-labelledby="rows-h" tabindex="0">
<h2 id="rows-h" class="visually-hidden">Rows</h2>
<table>
<thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">Outcome</th><th scope="col">Role</th><th scope="col">Provider</th><th scope="col">Repository</th><th scope="col">Ref</th><th scope="col">Actor</th><th scope="col">Client</th><th scope="col">Request</th><th scope="col">Reason</th></tr></thead>
<tbody>
${rows.map(
  (e) =>
    html`<tr><td>${when(e.at)}</td><td>${e.event}</td><td>${e.outcome}${e.errorCode ? html` (${e.errorCode})` : ''}</td><td>${e.role ?? ''}</td><td>${e.provider ?? ''}</td><td>${e.claims.repository ?? jobProject(e.claims)}</td><td><code>${e.claims.ref ?? ''}</code></td><td>${e.actor ?? ''}</td><td>${e.clientAddress ?? ''}${e.userAgent ? html`<br><small>${e.userAgent}</small>` : ''}</td><td><a href="${href(`/console/audit?${new URLSearchParams({ request_id: e.requestId })}`)}">${e.requestId}</a></td><td>${e.reason}</td></tr>`,
)}
</tbody>
</table>
</div>`;
}

/** Another CI system's project and run (`GitLab CI/CD my-group/app pipeline 574`); '' for none. */
function jobProject(claims: Readonly<Record<string, string>>): string {
  const j = jobName(claims);
  return j.kind === 'github' ? '' : [j.system, j.project, j.run].filter(Boolean).join(' ');
}

/**
 * One lease and what its credentials did upstream (issue 26): each credential's collection
 * state (collecting, complete, or unavailable with the reason), what its events are matched by
 * (GCP: the service account and the time window, never the token), and the events, oldest
 * first, each marked when the role's `forbid_actions` names it. No secret is on the page: key
 * ids, token hashes and service accounts name a credential, they grant nothing.
 */
import type { LeaseActivity } from '../audit/activity.js';
import { matchedBy } from '../audit/activity.js';
import type { ActivityEvent, ActivityKey } from '../store/activity-types.js';
import { type Html, href, html } from './html.js';
import type { SignedIn } from './session.js';
import { when } from './view-format.js';
import { layout } from './view-layout.js';

export type ActivityState = ActivityKey['status'] | 'not collected';

/** The lease's state as one word: unavailable if any credential is, collecting while any is. */
export function activityState(keys: readonly ActivityKey[]): ActivityState {
  if (keys.length === 0) return 'not collected';
  if (keys.some((k) => k.status === 'unavailable')) return 'unavailable';
  if (keys.some((k) => k.status === 'collecting')) return 'collecting';
  return 'complete';
}

const STATE_TEXT: Record<ActivityState, string> = {
  collecting:
    'Collecting: the upstream delivers its records late, so more may come until the horizon past the credential’s end.',
  complete: 'Complete: read past the horizon; nothing more will be added.',
  unavailable: 'Unavailable: the activity could not be read, or not all of it (the reason is below).',
  'not collected':
    'Not collected: lease activity is off for this provider (JITKEY_LEASE_ACTIVITY), or the lease predates it.',
};

export function leaseActivityPage(o: {
  who: SignedIn;
  leaseId: string;
  activity: LeaseActivity;
  /** The event ids the role's `forbid_actions` names, with the entry each matched. */
  forbidden: ReadonlyMap<string, string>;
}): Html {
  const { lease, keys, events } = o.activity;
  const state = activityState(keys);
  const flagged = events.filter((e) => o.forbidden.has(e.eventId)).length;
  return layout(
    { title: `Lease ${o.leaseId}`, who: o.who, section: '/console/leases' },
    html`<p class="crumbs"><a href="/console/leases">Leases</a></p>
<h1>Lease <code>${o.leaseId}</code></h1>
${
  lease
    ? html`<dl class="facts">
<dt>Role</dt><dd>${lease.role}</dd>
<dt>Provider</dt><dd>${lease.provider}</dd>
<dt>Repository</dt><dd>${lease.repository ?? 'not named'}</dd>
${lease.runId ? html`<dt>Run</dt><dd>${lease.runId}${lease.runAttempt ? ` attempt ${lease.runAttempt}` : ''}</dd>` : ''}
<dt>Issued</dt><dd>${when(lease.createdAt)}</dd>
<dt>Expires</dt><dd>${when(lease.expiresAt)}</dd>
${lease.revokedAt ? html`<dt>Revoked</dt><dd>${when(lease.revokedAt)}</dd>` : ''}
</dl>`
    : html`<p class="lead">The lease itself has been purged (a day after it ended); its activity is kept as long as the audit trail.</p>`
}
<section aria-labelledby="activity-h">
<h2 id="activity-h">Activity: <span class="state">${state}</span></h2>
<p class="lead">${STATE_TEXT[state]}</p>
${
  flagged
    ? html`<p class="notice error" role="alert">${flagged} event${flagged === 1 ? '' : 's'} used an action the role forbids (marked below); each has an audit row with error code forbidden_action.</p>`
    : ''
}
${keys.length ? html`<ul class="cards">${keys.map(credential)}</ul>` : ''}
${events.length ? table(events, o.forbidden) : keys.length ? html`<p class="empty">No activity recorded yet.</p>` : ''}
</section>
${
  lease
    ? html`<p class="links"><a href="${href(`/console/audit?${new URLSearchParams({ role: lease.role })}`)}">Audit rows of role ${lease.role}</a></p>`
    : ''
}`,
  );
}

function credential(k: ActivityKey): Html {
  return html`<li class="card">
<h3>${k.provider} credential <code>${k.keyId}</code></h3>
<dl class="facts">
<dt>State</dt><dd>${k.status}${k.status === 'collecting' ? html` <span class="muted">(next read ${when(k.nextPollAt)})</span>` : ''}</dd>
${k.reason ? html`<dt>Reason</dt><dd>${k.reason}</dd>` : ''}
<dt>Matched by</dt><dd>${matchedBy(k.provider)}${k.provider === 'gcp' ? ': other uses of the same service account in this window show here too' : ''}</dd>
<dt>Where</dt><dd>${k.account}${k.region ? `, ${k.region}` : ''}</dd>
<dt>Window</dt><dd>${when(k.windowStart)} to ${when(k.windowEnd)}</dd>
<dt>Last read</dt><dd>${k.polledAt ? when(k.polledAt) : 'not yet'}</dd>
</dl>
</li>`;
}

function table(events: readonly ActivityEvent[], forbidden: ReadonlyMap<string, string>): Html {
  return html`<div class="scroll" role="region" aria-labelledby="events-h" tabindex="0">
<h3 id="events-h">Events, oldest first (${events.length})</h3>
<table>
<thead><tr><th scope="col">When</th><th scope="col">Action</th><th scope="col">Source</th><th scope="col">Region</th><th scope="col">Read only</th><th scope="col">Result</th><th scope="col">Resources, details</th><th scope="col">Forbidden</th></tr></thead>
<tbody>
${events.map((e) => {
  const rule = forbidden.get(e.eventId);
  return html`<tr${rule ? html` class="flagged"` : ''}><td>${when(e.at)}</td><td><code>${e.name}</code></td><td>${e.source}</td><td>${e.region ?? ''}</td><td>${e.readOnly === undefined ? '' : e.readOnly ? 'yes' : 'no'}</td><td>${e.errorCode ? `refused: ${e.errorCode}` : 'done'}</td><td>${[
    ...e.resources.map((r) => [r.type, r.name ?? ''] as const),
    ...Object.entries(e.details ?? {}).map(([k, v]) => [k, shown(v)] as const),
  ].map(
    ([label, value], i) =>
      html`${i ? html`<br>` : ''}${label ? html`<span class="muted">${label}:</span> ` : ''}${value}`,
  )}</td><td>${rule ? html`<strong>yes</strong> (${rule})` : 'no'}</td></tr>`;
})}
</tbody>
</table>
</div>`;
}

/** A detail's value as text: lists joined, anything else as JSON. */
function shown(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(shown).join(', ');
  return JSON.stringify(value) ?? '';
}

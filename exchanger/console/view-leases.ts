/**
 * Leases in force, for platform admins: filtered by provider, repository and role, each with a
 * Revoke button and what revoking it does with its provider (the README's "What revoke means").
 */
import type { LeaseRecord } from '../store/leases-types.js';
import { type Html, href, html } from './html.js';
import type { SignedIn } from './session.js';
import { timeLeft, when } from './view-format.js';
import { layout, notice } from './view-layout.js';

export const PROVIDERS = ['aws', 'gcp', 'github', 'kubernetes'] as const;

export interface LeaseItem {
  lease: LeaseRecord;
  /** Revoking reaches the provider (else it only marks the lease revoked). */
  upstream: boolean;
}

export interface LeaseFilterShown {
  provider?: string | undefined;
  repository?: string | undefined;
  role?: string | undefined;
}

/** What revoking does, per provider, when it reaches the provider and when it cannot. */
export function revokeMeans(provider: string, upstream: boolean): string {
  switch (provider) {
    case 'github':
      return upstream
        ? 'GitHub deletes the token at once.'
        : 'The lease is marked revoked, but the token cannot be deleted from here (no webhook secret configured, or the job was not a GitHub run): it lives until it expires (1 h at most).';
    case 'kubernetes':
      return upstream
        ? "The lease's bound Secret is deleted: the API server rejects the token at once."
        : 'The lease is marked revoked; the lease sweep deletes its bound Secret at its next pass, and the API server then rejects the token.';
    case 'aws':
      return 'AWS has no revoke: the lease is marked revoked and the session credentials stay usable until the lease expires.';
    case 'gcp':
      return 'Google Cloud has no revoke: the lease is marked revoked and the access token stays usable until the lease expires.';
    default:
      return 'The lease is marked revoked; its credential lives until it expires.';
  }
}

export function leasesPage(o: {
  who: SignedIn;
  items: LeaseItem[];
  filter: LeaseFilterShown;
  roles: readonly string[];
  now: Date;
  limit: number;
  done?: string | undefined;
  error?: string | undefined;
}): Html {
  const { items, filter } = o;
  const list = items.length
    ? html`<ul class="cards">${items.map((item) => card(o.who, item, o.now))}</ul>`
    : html`<p class="empty">No lease in force matches.</p>`;
  return layout(
    { title: 'Leases', who: o.who, section: '/console/leases' },
    html`<h1>Leases in force</h1>
${o.error ? notice('error', o.error) : ''}
${o.done ? notice('ok', o.done) : ''}
<form class="filters" method="get" action="/console/leases">
<div class="field"><label for="f-provider">Provider</label>
<select id="f-provider" name="provider"><option value="">any</option>${PROVIDERS.map(
      (p) => html`<option value="${p}"${filter.provider === p ? html` selected` : ''}>${p}</option>`,
    )}</select></div>
<div class="field"><label for="f-repository">Repository</label>
<input id="f-repository" name="repository" value="${filter.repository ?? ''}" placeholder="owner/name" autocomplete="off"></div>
<div class="field"><label for="f-role">Role</label>
<select id="f-role" name="role"><option value="">any</option>${o.roles.map(
      (r) => html`<option value="${r}"${filter.role === r ? html` selected` : ''}>${r}</option>`,
    )}</select></div>
<button type="submit">Filter</button>
</form>
<p class="lead">${items.length}${items.length >= o.limit ? '+' : ''} lease${items.length === 1 ? '' : 's'} in force, newest first${items.length >= o.limit ? ` (the first ${o.limit}; narrow the filter for the rest)` : ''}.</p>
${list}
<section aria-labelledby="means-h">
<h2 id="means-h">What revoke means, per provider</h2>
<dl class="facts wide">
<dt>github</dt><dd>${revokeMeans('github', true)} Without JITKEY_GITHUB_WEBHOOK_SECRET the console cannot open the token, so it is only marked revoked.</dd>
<dt>kubernetes</dt><dd>${revokeMeans('kubernetes', true)}</dd>
<dt>aws</dt><dd>${revokeMeans('aws', false)}</dd>
<dt>gcp</dt><dd>${revokeMeans('gcp', false)}</dd>
</dl>
</section>`,
  );
}

function card(who: SignedIn, item: LeaseItem, now: Date): Html {
  const l = item.lease;
  const action = `/console/leases/${encodeURIComponent(l.id)}/revoke`;
  return html`<li class="card">
<h2>${l.role} <span class="muted">for</span> ${l.repository ?? 'an unnamed repository'}</h2>
<dl class="facts">
<dt>Provider</dt><dd>${l.provider}</dd>
<dt>Lease</dt><dd><a href="${href(`/console/leases/${encodeURIComponent(l.id)}`)}"><code>${l.id}</code><span class="visually-hidden"> (its activity)</span></a></dd>
${l.runId ? html`<dt>Run</dt><dd>${l.runId}${l.runAttempt ? ` attempt ${l.runAttempt}` : ''}</dd>` : ''}
<dt>Issued</dt><dd>${when(l.createdAt)}</dd>
<dt>Expires</dt><dd>${timeLeft(l.expiresAt.toISOString(), now)} <span class="muted">(at ${when(l.expiresAt)})</span></dd>
<dt>Revoke</dt><dd>${revokeMeans(l.provider, item.upstream)}</dd>
</dl>
<form method="post" action="${href(action)}" class="inline">
<input type="hidden" name="csrf" value="${who.csrf}">
<button type="submit" class="danger">Revoke<span class="visually-hidden"> lease ${l.id} (${l.role})</span></button>
</form>
</li>`;
}

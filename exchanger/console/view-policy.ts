/**
 * The policy in force, for platform admins: each role with what it grants, its approvers and
 * the org guardrails over it; and the explain form, whose answer is `jitkey explain`'s text.
 */
import { formatDuration } from '../duration.js';
import type { Policy, Role } from '../policy/model/types.js';
import { type Html, html } from './html.js';
import { roleSummary } from './role-summary.js';
import type { SignedIn } from './session.js';
import { layout, notice } from './view-layout.js';

export interface ExplainShown {
  role?: string | undefined;
  claims?: string | undefined;
  requestId?: string | undefined;
  /** `jitkey explain`'s text, and whether the decision granted. */
  answer?: { text: string; granted: boolean; from?: string | undefined } | undefined;
  error?: string | undefined;
}

export function policyPage(o: { who: SignedIn; policy: Policy; explain: ExplainShown }): Html {
  const roles = [...o.policy.roles.values()].sort((a, b) => a.name.localeCompare(b.name));
  const admins = [...o.policy.admins.logins, ...o.policy.admins.teams];
  return layout(
    { title: 'Policy', who: o.who, section: '/console/policy' },
    html`<h1>Policy in force</h1>
<p class="lead">${roles.length} role${roles.length === 1 ? '' : 's'}. Admins: ${admins.join(', ') || 'none'}.</p>
${explainForm(o.who, roles, o.explain)}
<section aria-labelledby="roles-h">
<h2 id="roles-h">Roles</h2>
<ul class="cards">${roles.map((role) => roleCard(o.policy, role))}</ul>
</section>`,
  );
}

function explainForm(who: SignedIn, roles: readonly Role[], e: ExplainShown): Html {
  return html`<section class="decide" aria-labelledby="explain-h">
<h2 id="explain-h">Explain a decision</h2>
<p>As <code>jitkey explain</code> does: a role and the token's claims as JSON, or the id of a past request (its recorded claims, and its role unless you pick one).</p>
${e.error ? notice('error', e.error) : ''}
<form method="post" action="/console/policy/explain" class="decision">
<input type="hidden" name="csrf" value="${who.csrf}">
<label for="x-role">Role</label>
<select id="x-role" name="role"><option value="">the request's role</option>${roles.map(
    (r) => html`<option value="${r.name}"${e.role === r.name ? html` selected` : ''}>${r.name}</option>`,
  )}</select>
<label for="x-claims">Claims (JSON)</label>
<textarea id="x-claims" name="claims" rows="6" maxlength="8000" spellcheck="false" placeholder='{"repository": "acme/web", "ref": "refs/heads/main"}'>${e.claims ?? ''}</textarea>
<label for="x-request">or a past request id</label>
<input id="x-request" name="request_id" value="${e.requestId ?? ''}" placeholder="req_…" autocomplete="off">
<button type="submit" class="primary">Explain</button>
</form>
${
  e.answer
    ? html`<h3 id="answer-h">Decision: ${e.answer.granted ? 'granted' : 'denied'}</h3>
${e.answer.from ? html`<p class="muted">${e.answer.from}</p>` : ''}
<pre class="explain" role="region" aria-labelledby="answer-h" tabindex="0">${e.answer.text}</pre>`
    : ''
}
</section>`;
}

function roleCard(policy: Policy, role: Role): Html {
  const summary = roleSummary(policy, role.name, {});
  const a = role.approval;
  return html`<li class="card">
<h3>${role.name} <span class="muted">(${role.provider})</span></h3>
${role.description ? html`<p>${role.description}</p>` : ''}
<dl class="facts wide">
${summary?.grants.map(([label, value]) => html`<dt>${label}</dt><dd><code>${value}</code></dd>`)}
<dt>Duration</dt><dd>${formatDuration(role.durationSeconds)} by default, ${formatDuration(role.maxDurationSeconds)} at most</dd>
<dt>Rules</dt><dd>${role.allow.length} allow, ${role.deny.length} deny${role.requireProtectedEnvironment ? '; a protected environment is required' : ''}</dd>
<dt>Approval</dt><dd>${
    a
      ? html`${a.required} of ${a.approvers.join(', ')}, within ${formatDuration(a.timeoutSeconds)}${a.gate ? ' (at the deployment gate)' : ''}`
      : 'none'
  }</dd>
<dt>Guardrails</dt><dd>${role.guardrails?.length ? role.guardrails.map((g) => g.name).join(', ') : 'none'}</dd>
${role.issuers ? html`<dt>Issuers</dt><dd>${role.issuers.join(', ')}</dd>` : ''}
<dt>Defined at</dt><dd><code>${summary?.definedAt ?? 'the policy'}</code></dd>
</dl>
</li>`;
}

/**
 * A forbidden action found in a lease's activity (`activity/forbidden.ts`), told to the role's
 * notify channel (`approval.notify`: a JSON webhook, or a Slack incoming webhook) as it is told
 * of requests: fire and forget, https only, no secret in it (no token, no key material: the key
 * id, hash or service account that names the credential is in the audit row, not here). A role
 * without `approval.notify` is not told; its audit row and metric still are written.
 */
import type { ForbiddenFlag } from '../activity/forbidden.js';
import { type NotifyDeps, postNotification } from './notify.js';
import { escapeMrkdwn, mrkdwn } from './slack.js';

export interface ForbiddenPayload {
  event: 'forbidden_action';
  lease_id: string;
  role: string;
  provider: string;
  repository?: string;
  run_id?: string;
  action: string;
  /** The role's `forbid_actions` entry it matched. */
  forbidden_by: string;
  /** When the upstream says it was done. */
  at: string;
  /** The upstream refused it (its error code): an attempt, still worth hearing about. */
  refused?: string;
  /** What was done and what forbids it; not the audit row's reason, which names the key. */
  reason: string;
  /** The lease's console page, with its whole activity (`JITKEY_PUBLIC_URL`). */
  lease_url?: string;
}

export function forbiddenPayload(flag: ForbiddenFlag, publicUrl?: string): ForbiddenPayload {
  const { lease, event } = flag;
  return {
    event: 'forbidden_action',
    lease_id: lease.id,
    role: lease.role,
    provider: lease.provider,
    ...(lease.repository ? { repository: lease.repository } : {}),
    ...(lease.runId ? { run_id: lease.runId } : {}),
    action: flag.action,
    forbidden_by: flag.pattern,
    at: event.at.toISOString(),
    ...(event.errorCode ? { refused: event.errorCode } : {}),
    // The audit row's reason names the credential (key id, token jti): admins read it there.
    reason: `lease used ${flag.action}, which role '${lease.role}' forbids (${flag.pattern})`,
    ...(publicUrl ? { lease_url: leaseUrl(publicUrl, lease.id) } : {}),
  };
}

export function leaseUrl(publicUrl: string, leaseId: string): string {
  return `${publicUrl}/console/leases/${encodeURIComponent(leaseId)}`;
}

/** The same as a Slack Block Kit message, every value escaped for mrkdwn. */
export function forbiddenSlackMessage(flag: ForbiddenFlag, publicUrl?: string): Record<string, unknown> {
  const p = forbiddenPayload(flag, publicUrl);
  // Verbatim: an action or repository spelled upstream (a Kubernetes resource is the client's to
  // spell) is not made into a link, a channel name or a mention by Slack's automatic parsing.
  const field = (label: string, value: string | undefined) =>
    mrkdwn(`*${label}*\n${value ? escapeMrkdwn(value) : '—'}`);
  const title = `Forbidden action: ${p.action} by a lease of role ${p.role}`;
  const blocks: Record<string, unknown>[] = [
    { type: 'section', text: mrkdwn(`*${escapeMrkdwn(title)}*`) },
    {
      type: 'section',
      fields: [
        field('Role', p.role),
        field('Repository', p.repository),
        field('Action', p.action),
        field('Forbidden by', p.forbidden_by),
        field('When', p.at),
        field('Upstream refused it', p.refused ?? 'no'),
      ],
    },
  ];
  if (p.lease_url) {
    blocks.push({
      type: 'actions',
      elements: [
        {
          type: 'button',
          action_id: 'jitkey_lease',
          text: { type: 'plain_text', text: 'Lease activity' },
          url: p.lease_url,
          style: 'danger',
        },
      ],
    });
  }
  return { text: escapeMrkdwn(title), blocks };
}

/** The `notify` hook of `flagForbidden`: the role's `approval.notify`, when it has one. */
export function notifyForbidden(deps: NotifyDeps): (flag: ForbiddenFlag) => Promise<void> {
  return async (flag) => {
    const target = flag.role.approval?.notify;
    if (!target) return;
    await postNotification(deps, target, {
      label: 'forbidden action notification',
      fields: { lease_id: flag.lease.id },
      json: () => forbiddenPayload(flag, deps.publicUrl),
      slack: () => forbiddenSlackMessage(flag, deps.publicUrl),
    });
  };
}

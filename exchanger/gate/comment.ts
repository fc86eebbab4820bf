/**
 * What the gate writes on GitHub's deployment (the `comment` of an answer or a status report):
 * Markdown, at most 1,024 characters (GitHub's limit), naming the approvers and each request's
 * console link. Pure functions; text people typed (a denial's reason) is escaped, never markup.
 */
import type { ApprovalRequestRecord } from '../store/approvals-types.js';

export const MAX_COMMENT = 1024;

export interface GateRequestLine {
  request: Pick<ApprovalRequestRecord, 'id' | 'role' | 'approvals' | 'status' | 'reason' | 'decidedBy'>;
  approvers: readonly string[];
  required: number;
}

/** `${publicUrl}/console/requests/{id}`, or the command an approver runs when no URL is set. */
export function requestLink(id: string, publicUrl: string | undefined): string {
  return publicUrl ? `${publicUrl}/console/requests/${id}` : `\`jitkey approve ${id} --url <exchanger URL>\``;
}

/** Markdown's punctuation made literal, one line. */
export function escapeMarkdown(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/[\\`*_{}[\]()<>#+!|~>-]/g, (c) => `\\${c}`);
}

const who = (logins: readonly string[]) => logins.map((l) => `@${l}`).join(', ');

function line(l: GateRequestLine, publicUrl: string | undefined): string {
  const voters = who([...new Map(l.request.approvals.map((v) => [v.id, v.login])).values()]);
  const count = new Set(l.request.approvals.map((v) => v.id)).size;
  const link = requestLink(l.request.id, publicUrl);
  const role = `role \`${l.request.role}\``;
  switch (l.request.status) {
    case 'denied':
      return `${role}: denied by @${l.request.decidedBy ?? 'an approver'}${l.request.reason ? `: ${escapeMarkdown(l.request.reason)}` : ''} (${link})`;
    case 'expired':
      return `${role}: no decision in time${l.request.reason ? ` (${escapeMarkdown(l.request.reason)})` : ''} (${link})`;
    case 'approved':
    case 'redeemed':
      return `${role}: approved by ${voters} (${link})`;
    default:
      return `${role}: ${count} of ${l.required} approvals${voters ? `: ${voters}` : ''}; approvers ${l.approvers.join(', ')} (${link})`;
  }
}

function bounded(head: string, lines: string[]): string {
  let out = head;
  for (const [n, l] of lines.entries()) {
    const next = `${out}\n- ${l}`;
    if (next.length > MAX_COMMENT - 40) {
      return `${out}\n- … and ${lines.length - n} more`.slice(0, MAX_COMMENT);
    }
    out = next;
  }
  return out.slice(0, MAX_COMMENT);
}

export function approvedComment(lines: GateRequestLine[], publicUrl: string | undefined): string {
  return bounded(
    '**jitkey: approved.** The jobs of this deployment get their credentials at once:',
    lines.map((l) => line(l, publicUrl)),
  );
}

export function rejectedComment(lines: GateRequestLine[], publicUrl: string | undefined): string {
  const closed = lines.filter((l) => l.request.status === 'denied' || l.request.status === 'expired');
  return bounded(
    '**jitkey: rejected.**',
    (closed.length ? closed : lines).map((l) => line(l, publicUrl)),
  );
}

/** A status report as approvals arrive: "1 of 2 approvals: @alice". */
export function statusComment(lines: GateRequestLine[], publicUrl: string | undefined): string {
  return bounded(
    '**jitkey: waiting for approval.**',
    lines.map((l) => line(l, publicUrl)),
  );
}

/** The deployment matched no role with `approval.gate`: nobody is named to approve it. */
export function noRoleComment(repository: string, environment: string, why: string): string {
  return `**jitkey: rejected.** No role with \`approval.gate: true\` in jitkey's policy applies to a deployment of ${escapeMarkdown(repository)} to environment ${escapeMarkdown(environment)}, so nobody is named to approve it (${escapeMarkdown(why)}). Add \`approval.gate: true\` to the role this deployment's jobs use, or take jitkey off this environment's protection rules.`.slice(
    0,
    MAX_COMMENT,
  );
}

/**
 * Deciding from Slack: `slack_users` (a single-file policy or `org.yaml`) maps a Slack user id to
 * the GitHub account it decides as, and `approval.chat_decisions: true` lets a role's approvers use
 * the message's buttons. The mapping names both the login (approver lists and teams are logins)
 * and the numeric GitHub user id (self-approval compares ids: a renamed login cannot redirect it).
 * Never a display name or an email: anyone can set those in Slack.
 */
import { isMap } from 'yaml';
import type { ApprovalConfig, SlackUser } from '../model/types.js';
import { SLACK_USER_KEYS } from './keys.js';
import type { Field, Reader } from './read.js';
import { LOGIN } from './validate-people.js';

/** A Slack user id: `U…`, or `W…` on Enterprise Grid; upper-case letters and digits. */
export const SLACK_USER_ID = /^[UW][A-Z0-9]{2,20}$/;

export function readSlackUsers(r: Reader, field: Field): Map<string, SlackUser> {
  const out = new Map<string, SlackUser>();
  for (const entry of r.entries(field.value, 'slack_users', field.key) ?? []) {
    const path = `slack_users.${entry.name}`;
    if (!SLACK_USER_ID.test(entry.name)) {
      r.error(
        entry.key,
        `slack_users: '${entry.name}' is not a Slack user id (U… or W…, as Slack's profile "Copy member ID" gives it); display names and emails are not taken`,
      );
      continue;
    }
    if (!isMap(entry.value)) {
      r.error(
        r.at(entry),
        `${path}: write { login: <GitHub login>, id: <GitHub user id> } (the id: gh api users/<login> --jq .id)`,
      );
      continue;
    }
    const f = r.fields(entry.value, SLACK_USER_KEYS, path, entry.key);
    if (!f) continue;
    const loginField = r.require(f, 'login', path, entry.key);
    const login = loginField && r.string(loginField, `${path}.login`);
    if (login !== undefined && !LOGIN.test(login)) {
      r.error(
        loginField?.value,
        `${path}.login: '${login}' is not a GitHub login (teams are not taken here)`,
      );
    }
    const idField = r.require(f, 'id', path, entry.key);
    const id = idField && r.integer(idField, `${path}.id`);
    if (id !== undefined && id < 1)
      r.error(idField?.value, `${path}.id must be a GitHub user id (1 or more)`);
    if (login !== undefined && LOGIN.test(login) && id !== undefined && id >= 1) {
      out.set(entry.name, { login, id: String(id) });
    }
  }
  return out;
}

/** `approval.chat_decisions`: default false; true also puts the buttons in a Slack `notify` message. */
export function readChatDecisions(r: Reader, f: Map<string, Field>, path: string, out: ApprovalConfig): void {
  const field = f.get('chat_decisions');
  if (!field || r.boolean(field, `${path}.chat_decisions`) !== true) return;
  if (out.notify === undefined || typeof out.notify === 'string') {
    r.error(
      field.key,
      `${path}.chat_decisions needs ${path}.notify: { slack: URL }: the Approve and Deny buttons are in that message`,
    );
    return;
  }
  out.chatDecisions = true;
  out.notify = { ...out.notify, buttons: true };
}

/**
 * `approval.auto_approve_on_call: { pagerduty: { schedule_ids }, oncall_users, max_per_day }`: a
 * request is approved at once when the job's actor is on call now. Who the actor is in PagerDuty
 * comes only from `oncall_users` (GitHub login, user id, or `login:id` pinned to the id as
 * approvers are → PagerDuty email or user id), never a guess from names.
 */

import type { ApprovalConfig, OnCallApproval, OnCallUser } from '../model/types.js';
import { AUTO_APPROVE_KEYS, PAGERDUTY_KEYS } from './keys.js';
import type { Field, Reader } from './read.js';
import { checkPins, LOGIN, PERSON, pinProblem } from './validate-people.js';

export const DEFAULT_MAX_PER_DAY = 5;
const SCHEDULE_ID = /^[A-Z0-9]{2,20}$/;
const PD_USER_ID = /^P[A-Z0-9]{5,13}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const GITHUB_ID = /^[1-9][0-9]{0,19}$/;

export function readOnCall(r: Reader, f: Map<string, Field>, path: string, out: ApprovalConfig): void {
  const field = f.get('auto_approve_on_call');
  if (!field) return;
  const at = `${path}.auto_approve_on_call`;
  const g = r.fields(field.value, AUTO_APPROVE_KEYS, at, field.key);
  if (!g) return;
  const pd = r.require(g, 'pagerduty', at, field.key);
  const scheduleIds: string[] = [];
  const p = pd && r.fields(pd.value, PAGERDUTY_KEYS, `${at}.pagerduty`, pd.key);
  const list = p && pd && r.require(p, 'schedule_ids', `${at}.pagerduty`, pd.key);
  for (const s of list ? r.strings(list, `${at}.pagerduty.schedule_ids`, { nonEmpty: true }) : []) {
    if (SCHEDULE_ID.test(s.value)) scheduleIds.push(s.value);
    else
      r.error(
        s.node,
        `${at}.pagerduty.schedule_ids: '${s.value}' is not a PagerDuty schedule id (like PABC123)`,
      );
  }
  const users = new Map<string, OnCallUser>();
  const mapping = r.require(g, 'oncall_users', at, field.key);
  const entries = mapping ? (r.entries(mapping.value, `${at}.oncall_users`, mapping.key) ?? []) : [];
  for (const e of entries) {
    const where = `${at}.oncall_users.${e.name}`;
    // `login:id` names the account by its id alone, as in approvers: a login can change hands.
    const pinnedId =
      e.name.includes(':') && PERSON.test(e.name) ? e.name.slice(e.name.indexOf(':') + 1) : undefined;
    const isId = pinnedId === undefined && GITHUB_ID.test(e.name);
    if (pinnedId === undefined && !isId && !LOGIN.test(e.name)) {
      r.error(
        e.key,
        pinProblem(e.name, where) ??
          `${where}: '${e.name}' is neither a GitHub login, a GitHub user id, nor login:id`,
      );
      continue;
    }
    const value = r.string(e, where);
    if (value === undefined) continue;
    const pdUser = EMAIL.test(value)
      ? { email: value.toLowerCase() }
      : PD_USER_ID.test(value)
        ? { id: value }
        : undefined;
    if (!pdUser) {
      r.error(
        e.value ?? e.key,
        `${where}: '${value}' is neither an email nor a PagerDuty user id (like PXYZ789)`,
      );
      continue;
    }
    const key =
      pinnedId !== undefined ? `id:${pinnedId}` : isId ? `id:${e.name}` : `login:${e.name.toLowerCase()}`;
    if (users.has(key)) r.error(e.key, `${where} is listed twice`);
    else users.set(key, pdUser);
  }
  checkPins(
    r,
    entries.map((e) => ({ value: e.name, node: e.key })),
    `${at}.oncall_users`,
  );
  let maxPerDay = DEFAULT_MAX_PER_DAY;
  const max = g.get('max_per_day');
  if (max) {
    const n = r.integer(max, `${at}.max_per_day`);
    if (n !== undefined && n < 1) r.error(max.value, `${at}.max_per_day must be at least 1`);
    else if (n !== undefined) maxPerDay = n;
  }
  if (scheduleIds.length && users.size)
    out.autoApproveOnCall = { pagerduty: { scheduleIds }, users, maxPerDay };
}

/** The PagerDuty user the policy maps a job's actor to: by GitHub user id first, then login. */
export function onCallUser(
  config: OnCallApproval,
  actor: { login?: string | undefined; id?: string | undefined },
): OnCallUser | undefined {
  return (
    (actor.id !== undefined ? config.users.get(`id:${actor.id}`) : undefined) ??
    (actor.login !== undefined ? config.users.get(`login:${actor.login.toLowerCase()}`) : undefined)
  );
}

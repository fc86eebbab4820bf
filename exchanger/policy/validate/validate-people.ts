/**
 * The people and teams a policy names (approvers, escalation approvers, break-glass, admins): what
 * a GitHub login, a pinned `login:id` (matched by `model/person.ts`) and an `org/team-slug` look
 * like, and the mistakes a list of them can hold.
 */
import type { Node } from 'yaml';
import type { Field, Reader } from './read.js';

/** A GitHub login: letters, digits and single hyphens, at most 39, no leading or trailing hyphen. */
export const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$/;
/** A person: a login, or `login:id` pinning the account's numeric GitHub user id (`model/person.ts`). */
export const PERSON = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?(?::[1-9][0-9]{0,19})?$/;

/** The message for `login:something` whose id is not a user id; undefined for any other value. */
export function pinProblem(value: string, path: string): string | undefined {
  const colon = value.indexOf(':');
  if (colon < 0 || !LOGIN.test(value.slice(0, colon))) return undefined;
  const login = value.slice(0, colon);
  return `${path}: '${value}' pins no user id: write ${login}:ID with the account's numeric GitHub user id (its owner's 'gh api user --jq .id')`;
}

/**
 * Refuses a list that names one account twice in ways that matter: a bare login beside its own
 * pin (`alice` lets whoever holds the login through, which undoes `alice:1001`), or one user id
 * under two logins (one person, counted once, so `required` could never be met). Entries that
 * are no person (teams, mistakes reported elsewhere) are skipped.
 */
export function checkPins(r: Reader, entries: readonly { value: string; node: Node }[], path: string): void {
  const pins = new Map<string, string>();
  const ids = new Map<string, string>();
  const people = entries.filter((e) => PERSON.test(e.value));
  for (const { value, node } of people) {
    const colon = value.indexOf(':');
    if (colon < 0) continue;
    const id = value.slice(colon + 1);
    const other = ids.get(id);
    if (other !== undefined)
      r.error(node, `${path}: '${value}' and '${other}' are one account (user id ${id}): keep one`);
    else ids.set(id, value);
    pins.set(value.slice(0, colon).toLowerCase(), value);
  }
  for (const { value, node } of people) {
    const pin = value.includes(':') ? undefined : pins.get(value.toLowerCase());
    if (pin !== undefined) {
      r.error(
        node,
        `${path}: '${value}' lets whoever holds the login through, which undoes '${pin}': keep only '${pin}'`,
      );
    }
  }
}

/** `org/team-slug`, as GitHub's API names a team. */
export const TEAM_SLUG = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?\/[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;

/**
 * An approver list (`approval.approvers`, `escalate.approvers`): people or `org/team-slug`s, each
 * kept once (case-insensitively); anything else is an error naming `path`.
 */
export function readApprovers(r: Reader, field: Field | undefined, path: string): string[] {
  const out: string[] = [];
  const listed = field ? r.strings(field, path, { nonEmpty: true }) : [];
  checkPins(r, listed, path);
  for (const a of listed) {
    if (PERSON.test(a.value) || TEAM_SLUG.test(a.value)) {
      if (!out.some((x) => x.toLowerCase() === a.value.toLowerCase())) out.push(a.value);
    } else
      r.error(
        a.node,
        pinProblem(a.value, path) ?? `${path}: '${a.value}' is neither a GitHub login nor org/team-slug`,
      );
  }
  return out;
}

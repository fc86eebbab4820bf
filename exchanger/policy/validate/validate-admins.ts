/**
 * `admins:` of a single-file policy or `org.yaml`: who may use the console (GitHub logins and
 * `org/team` slugs). Both compare case-insensitively on GitHub, so they are kept lower-cased.
 */
import type { AdminsDoc } from './doc.js';
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

/** `org/team-slug`, as GitHub's API names a team. */
export const TEAM_SLUG = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?\/[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;

export const noAdmins = (): AdminsDoc => ({ logins: [], teams: [] });

export function readAdmins(r: Reader, field: Field): AdminsDoc {
  const out = noAdmins();
  for (const a of r.strings(field, 'admins', { nonEmpty: true })) {
    const value = a.value.toLowerCase();
    if (PERSON.test(a.value)) {
      if (!out.logins.includes(value)) out.logins.push(value);
    } else if (TEAM_SLUG.test(a.value)) {
      if (!out.teams.includes(value)) out.teams.push(value);
    } else {
      r.error(
        a.node,
        pinProblem(a.value, 'admins') ??
          `admins: '${a.value}' is neither a GitHub login (octocat) nor an org/team slug (acme/platform)`,
      );
    }
  }
  return out;
}

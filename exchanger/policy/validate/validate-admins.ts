/**
 * `admins:` of a single-file policy or `org.yaml`: who may use the console (GitHub logins and
 * `org/team` slugs). Both compare case-insensitively on GitHub, so they are kept lower-cased.
 */
import type { AdminsDoc } from './doc.js';
import type { Field, Reader } from './read.js';
import { checkPins, PERSON, pinProblem, TEAM_SLUG } from './validate-people.js';

export const noAdmins = (): AdminsDoc => ({ logins: [], teams: [] });

export function readAdmins(r: Reader, field: Field): AdminsDoc {
  const out = noAdmins();
  const listed = r.strings(field, 'admins', { nonEmpty: true });
  checkPins(r, listed, 'admins');
  for (const a of listed) {
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

/**
 * A person a policy names (an approver, an admin, who may break glass): a GitHub login, compared
 * case-insensitively as GitHub does, or `login:id`, which names the account by its numeric user
 * id. A login can change hands (renamed, then registered by someone else); an id cannot, so a
 * pinned entry matches on the id alone and its login is only there for people to read.
 */
import { equalsAscii } from './glob.js';

export interface Person {
  login?: string | undefined;
  /** The GitHub user id, as a string (like the `actor_id` claim). */
  id?: string | undefined;
}

/**
 * A pinned entry whose login is `person`'s and whose id is not: the login changed hands, or the
 * id in the policy is wrong. Only for saying why someone was refused; it grants nothing.
 */
export function pinnedToAnother(entry: string, person: Person): boolean {
  const colon = entry.indexOf(':');
  return (
    colon >= 0 &&
    person.login !== undefined &&
    equalsAscii(entry.slice(0, colon), person.login, true) &&
    person.id !== entry.slice(colon + 1)
  );
}

export function namesPerson(entry: string, person: Person): boolean {
  const colon = entry.indexOf(':');
  if (colon >= 0) return person.id !== undefined && person.id === entry.slice(colon + 1);
  return person.login !== undefined && equalsAscii(entry, person.login, true);
}

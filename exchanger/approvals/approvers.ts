/**
 * Who is deciding, and may they? The approver's own GitHub token tells GitHub's `GET /user` who
 * it is; the policy's `approvers` entries are logins (compared case-insensitively, as GitHub
 * does) or `org/team-slug`, checked through the App (`Members: read`). Nobody approves their own
 * job: the GitHub user id is compared with the request's `actor_id` claim.
 */
import { JitkeyError } from '../errors.js';
import type { GithubApp } from '../github/app.js';

export type ApproverDirectory = Pick<GithubApp, 'getUser' | 'isTeamMember'>;

export interface Approver {
  login: string;
  /** The GitHub user id, as a string like the `actor_id` claim. */
  id: string;
}

export async function identify(github: ApproverDirectory, userToken: string): Promise<Approver> {
  const user = await github.getUser(userToken);
  return { login: user.login, id: String(user.id) };
}

/**
 * Team answers for the length of one request or listing: a listing asks about each team once,
 * however many requests name it.
 */
export type MembershipMemo = Map<string, Promise<boolean>>;

/** Is `who` named in `approvers`, directly or through a team? Logins first: they cost no API call. */
export async function isApprover(
  github: ApproverDirectory,
  who: Approver,
  approvers: readonly string[],
  memo: MembershipMemo = new Map(),
): Promise<boolean> {
  const login = who.login.toLowerCase();
  if (approvers.some((a) => !a.includes('/') && a.toLowerCase() === login)) return true;
  for (const entry of approvers) {
    const slash = entry.indexOf('/');
    if (slash < 0) continue;
    const key = entry.toLowerCase();
    let answer = memo.get(key);
    if (!answer) {
      answer = github.isTeamMember(entry.slice(0, slash), entry.slice(slash + 1), who.login);
      memo.set(key, answer);
    }
    if (await answer) return true;
  }
  return false;
}

/**
 * Throws `access_denied` (not an approver) or `self_approval` (the job's own actor). The message
 * names only the caller and the request id: nothing about the request itself.
 */
export async function authorizeApprover(
  github: ApproverDirectory,
  who: Approver,
  request: { id: string; approvers: readonly string[]; claims: Readonly<Record<string, string>> },
  memo?: MembershipMemo,
): Promise<void> {
  if (!(await isApprover(github, who, request.approvers, memo))) {
    throw new JitkeyError(
      'access_denied',
      `${who.login} is not an approver for request ${request.id}: the role's policy names who is`,
    );
  }
  if (isSelf(who, request.claims)) {
    throw new JitkeyError(
      'self_approval',
      `${who.login} started this job and cannot decide on it: another approver has to`,
    );
  }
}

/** By GitHub user id (`actor_id`); by login only for a token that carries no `actor_id`. */
export function isSelf(who: Approver, claims: Readonly<Record<string, string>>): boolean {
  if (claims.actor_id !== undefined) return claims.actor_id === who.id;
  return claims.actor !== undefined && claims.actor.toLowerCase() === who.login.toLowerCase();
}

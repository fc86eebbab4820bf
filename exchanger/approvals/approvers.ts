/**
 * Who is deciding, and may they? The approver's own GitHub token tells GitHub's `GET /user` who
 * it is; the policy's `approvers` entries are logins (compared case-insensitively, as GitHub
 * does), `login:id` (matched on the user id alone: `policy/model/person.ts`) or `org/team-slug`,
 * checked through the App (`Members: read`). Nobody approves their own job: the GitHub user id is
 * compared with the request's `actor_id` claim.
 */
import { jobKind } from '../claims.js';
import { JitkeyError } from '../errors.js';
import type { GithubApp } from '../github/app.js';
import { asciiLower, equalsAscii } from '../policy/model/glob.js';
import { namesPerson, pinnedToAnother } from '../policy/model/person.js';
import type { ApprovalVote } from '../store/approvals-types.js';
import { onCallSchedule } from './on-call-vote.js';
import { approvalCount } from './state.js';

export type ApproverDirectory = Pick<GithubApp, 'getUser' | 'isTeamMember' | 'getRunAttempt'>;

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
  if (approvers.some((a) => !a.includes('/') && namesPerson(a, who))) return true;
  for (const entry of approvers) {
    const slash = entry.indexOf('/');
    if (slash < 0) continue;
    const key = `${asciiLower(entry)} ${asciiLower(who.login)}`;
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
 * names only the caller and the request id, nothing about the request itself; when the policy
 * pins the caller's own login to another account, it says that much (a typo'd id is otherwise a
 * mystery to its owner, and whoever registered a freed login learns only that it was pinned).
 */
export async function authorizeApprover(
  github: ApproverDirectory,
  who: Approver,
  request: { id: string; approvers: readonly string[]; claims: Readonly<Record<string, string>> },
  memo?: MembershipMemo,
): Promise<void> {
  if (!(await isApprover(github, who, request.approvers, memo))) {
    // The login is named, pinned to another account: say so, or a typo'd id reads as a mystery.
    const why = request.approvers.some((a) => pinnedToAnother(a, who))
      ? `the role's policy pins the login '${who.login}' to another GitHub account (a login that changed hands, or a user id to correct in the policy)`
      : "the role's policy names who is";
    throw new JitkeyError(
      'access_denied',
      `${who.login} is not an approver for request ${request.id}: ${why}`,
    );
  }
  if (isSelf(who, request.claims)) {
    throw new JitkeyError(
      'self_approval',
      `${who.login} started this job and cannot decide on it: another approver has to`,
    );
  }
}

/** By GitHub user id (`actor_id`, compared as a string); by login only for a token without one. */
export function isSelf(who: Approver, claims: Readonly<Record<string, unknown>>): boolean {
  const id = claims.actor_id;
  if (typeof id === 'string' || typeof id === 'number') return String(id) === who.id;
  return typeof claims.actor === 'string' && equalsAscii(claims.actor, who.login, true);
}

/**
 * A re-run keeps the token's `actor` (who started the first attempt); whoever clicked "re-run"
 * is the attempt's `triggering_actor`, which only GitHub knows. They may not approve it either.
 * Fail closed: when GitHub cannot say, the approval is refused (`upstream_error`).
 */
export async function checkNotTriggeredBy(
  github: ApproverDirectory,
  who: Approver,
  request: { id: string; claims: Readonly<Record<string, string>> },
  /** The issuer whose runs the App's API answers for (`appGithubIssuer`). */
  appIssuer: string | undefined,
): Promise<void> {
  // Another CI system's job was started by one of its own users, whom GitHub cannot name: there
  // is no GitHub run to ask, and no GitHub account to compare (docs/ci-systems.md, approvals).
  // So is a job of a second GitHub (a GHES beside github.com): the App's API knows none of its
  // runs. A request from before issuers were recorded is asked about, as then.
  if (jobKind(request.claims) !== 'github') return;
  const iss = request.claims.iss;
  if (iss !== undefined && iss !== appIssuer) return;
  const { repository = '', run_id: runId, run_attempt: attempt } = request.claims;
  const [owner, repo] = repository.split('/');
  if (!owner || !repo || !runId || !attempt) {
    throw new JitkeyError(
      'access_denied',
      `request ${request.id} does not name its repository and run attempt, so who started it cannot be checked`,
    );
  }
  const run = await github.getRunAttempt(owner, repo, runId, attempt);
  if (run.triggeringActorId === undefined) {
    throw new JitkeyError(
      'upstream_error',
      `GitHub did not say who started run ${runId} attempt ${attempt}: the approval is refused until it does`,
    );
  }
  if (run.triggeringActorId === who.id) {
    throw new JitkeyError(
      'self_approval',
      `${who.login} started attempt ${attempt} of this run (a re-run) and cannot approve it: another approver has to`,
    );
  }
}

/**
 * Does an approval still hold: enough distinct approvers' votes, or an on-call auto-approval,
 * which is a whole approval by design (cast with `required` 1, whatever the role requires of
 * people).
 */
export function approvalHolds(kept: readonly ApprovalVote[], required: number): boolean {
  return (
    kept.some((v) => onCallSchedule(v.id) !== undefined) || approvalCount({ approvals: kept }) >= required
  );
}

/**
 * The votes the policy in force still stands behind: a person's while it names them (a removed
 * approver's vote lapses); an on-call auto-approval's while the role still auto-approves from
 * that schedule. The latter is cast for the job's own actor, who need not be an approver.
 */
export async function votesInForce(
  github: ApproverDirectory,
  votes: readonly ApprovalVote[],
  inForce: { approvers: readonly string[]; onCallSchedules: readonly string[] },
  memo: MembershipMemo = new Map(),
): Promise<ApprovalVote[]> {
  const kept: ApprovalVote[] = [];
  for (const vote of votes) {
    const schedule = onCallSchedule(vote.id);
    if (schedule !== undefined) {
      if (inForce.onCallSchedules.includes(schedule)) kept.push(vote);
    } else if (await isApprover(github, { login: vote.login, id: vote.id }, inForce.approvers, memo)) {
      kept.push(vote);
    }
  }
  return kept;
}

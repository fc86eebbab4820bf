/**
 * Platform admins: the policy's `admins:` (GitHub logins, and `org/team` slugs whose membership
 * the GitHub App answers, as for approvers). Only they see the leases and policy screens and the
 * whole audit trail; to anyone else those pages are the console's plain 404.
 */
import { type ApproverDirectory, isApprover } from '../approvals/approvers.js';
import { JitkeyError } from '../errors.js';
import type { Policy } from '../policy/model/types.js';
import type { SignedIn } from './session.js';

export type TeamDirectory = Pick<ApproverDirectory, 'isTeamMember'>;

export async function isAdmin(github: TeamDirectory, policy: Policy, who: SignedIn): Promise<boolean> {
  const named = [...policy.admins.logins, ...policy.admins.teams];
  if (named.length === 0) return false;
  return isApprover(github as ApproverDirectory, who, named);
}

/** Throws the console's 404 unless `who` is an admin. */
export async function requireAdmin(github: TeamDirectory, policy: Policy, who: SignedIn): Promise<void> {
  if (!(await isAdmin(github, policy, who))) throw new JitkeyError('not_found', 'no such page');
}

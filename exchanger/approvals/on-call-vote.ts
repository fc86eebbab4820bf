/**
 * How an on-call auto-approval (`on-call.ts`) is told from a person's decision: its audit rows'
 * actor and its vote's id. Kept apart so the approver checks (`approvers.ts`) can read a vote
 * without depending on the PagerDuty flow.
 */

/** The audit rows' `actor`: never a GitHub login (a login has no colon), so it counts only these. */
export const ON_CALL_ACTOR = 'on-call:pagerduty';

/** The schedule an on-call auto-approval was cast for (its vote id); undefined for a person's vote. */
export function onCallSchedule(voteId: string): string | undefined {
  const prefix = `${ON_CALL_ACTOR}:`;
  return voteId.startsWith(prefix) ? voteId.slice(prefix.length) : undefined;
}

/**
 * Limits an exchange takes from its run attempt (reference.md §5, refresh), checked before minting:
 * - an attempt a `workflow_run completed` webhook has ended gets nothing more: `403 run_completed`;
 * - a role's `max_duration` counts from the attempt's first lease of that role, so renewals (the
 *   refresh agent's, or any repeated exchange) cannot stretch credentials past it: the granted
 *   duration is cut to what is left, and nothing is left → `403 access_denied`. A cut lease carries
 *   the attempt's `max_duration` end (`endsAt`): a provider whose floor is above what is left (AWS's
 *   60 s) still issues it and ends it then, rather than refusing the last renewal.
 */
import { endedRun, jobRun } from '../ci-job.js';
import type { Claims } from '../claims.js';
import { formatDuration } from '../duration.js';
import { JitkeyError, unavailable } from '../errors.js';
import type { Role } from '../policy/model/types.js';
import type { RunKey, RunState } from '../store/runs-types.js';
import type { Store } from '../store/types.js';

export interface RunLimit {
  durationSeconds: number;
  /** Set when the run attempt's max_duration cut the duration: the moment the lease must end. */
  endsAt?: Date;
}

export async function limitByRun(
  deps: { store: Store; now: () => Date },
  role: Role,
  claims: Claims,
  durationSeconds: number,
): Promise<RunLimit> {
  const run = jobRun(claims);
  if (!run) return { durationSeconds };
  let state: RunState;
  try {
    state = await deps.store.runState(run, role.name);
  } catch (err) {
    throw err instanceof JitkeyError ? err : unavailable('the store could not read the run attempt', err);
  }
  return runLimit(role, run, state, durationSeconds, deps.now());
}

/** The limits of a run attempt whose state is already read (the exchange reads it with its jti). */
export function runLimit(
  role: Role,
  run: RunKey,
  state: RunState,
  durationSeconds: number,
  now: Date,
): RunLimit {
  if (state.completed) {
    const ended = endedRun(run);
    throw new JitkeyError(
      'run_completed',
      `${ended.what} has completed (${ended.why}): its tokens get no more credentials; ${ended.again}`,
    );
  }
  if (!state.firstLeaseAt) return { durationSeconds };
  const deadline = state.firstLeaseAt.getTime() + role.maxDurationSeconds * 1000;
  const left = Math.floor((deadline - now.getTime()) / 1000);
  if (left <= 0) {
    throw new JitkeyError(
      'access_denied',
      `role '${role.name}': this run attempt has had its max_duration (${formatDuration(role.maxDurationSeconds)}) ` +
        `since its first lease at ${state.firstLeaseAt.toISOString()}; no further renewal`,
    );
  }
  if (left >= durationSeconds) return { durationSeconds };
  return { durationSeconds: left, endsAt: new Date(deadline) };
}

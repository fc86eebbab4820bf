/**
 * When nobody answers: `approval.remind_every` (tell `notify` again while a request waits) and
 * `approval.escalate: { after, approvers, notify }` (a second list that may decide from `after` on).
 * Both must fall inside `timeout`, or they could never happen.
 */
import { formatDuration } from '../../duration.js';
import type { ApprovalConfig, Escalation } from '../model/types.js';
import { ESCALATE_KEYS } from './keys.js';
import type { Field, Reader } from './read.js';
import { readNotify } from './validate-notify.js';
import { readApprovers } from './validate-people.js';

/** Reminders more often than this would be noise, not a nudge. */
export const MIN_REMIND_SECONDS = 60;

export function readNudges(r: Reader, f: Map<string, Field>, path: string, out: ApprovalConfig): void {
  const remind = f.get('remind_every');
  if (remind) {
    const s = r.duration(remind, `${path}.remind_every`);
    if (s !== undefined && s < MIN_REMIND_SECONDS) {
      r.error(remind.value, `${path}.remind_every must be at least ${formatDuration(MIN_REMIND_SECONDS)}`);
    } else if (s !== undefined && s >= out.timeoutSeconds) {
      r.error(
        remind.value,
        `${path}.remind_every (${formatDuration(s)}) must be shorter than timeout (${formatDuration(out.timeoutSeconds)}): no reminder would be sent`,
      );
    } else if (s !== undefined) {
      if (!out.notify) r.error(remind.key, `${path}.remind_every needs ${path}.notify: reminders go there`);
      out.remindEverySeconds = s;
    }
  }
  const escalate = f.get('escalate');
  if (escalate) {
    const e = readEscalate(r, escalate, `${path}.escalate`, out.timeoutSeconds);
    if (e) out.escalate = e;
  }
}

function readEscalate(r: Reader, field: Field, path: string, timeoutSeconds: number): Escalation | undefined {
  const f = r.fields(field.value, ESCALATE_KEYS, path, field.key);
  if (!f) return undefined;
  const afterField = r.require(f, 'after', path, field.key);
  const after = afterField ? r.duration(afterField, `${path}.after`) : undefined;
  if (afterField && after !== undefined && (after < 1 || after >= timeoutSeconds)) {
    r.error(
      afterField.value,
      `${path}.after (${formatDuration(after)}) must be more than 0s and shorter than timeout (${formatDuration(timeoutSeconds)}): the request would expire first`,
    );
  }
  const approvers = readApprovers(r, r.require(f, 'approvers', path, field.key), `${path}.approvers`);
  const out: Escalation = { afterSeconds: after ?? 0, approvers };
  const notify = f.get('notify');
  if (notify) readNotify(r, notify, `${path}.notify`, out);
  return after !== undefined && after >= 1 && after < timeoutSeconds && approvers.length ? out : undefined;
}

/**
 * `approval.notify`: a URL that gets the request as JSON, or `{ slack: URL }`, a Slack incoming
 * webhook that gets it as a Block Kit message. Either URL is https (http on loopback only).
 */
import { isMap } from 'yaml';
import type { ApprovalConfig } from '../model/types.js';
import { NOTIFY_KEYS } from './keys.js';
import type { Field, Reader } from './read.js';

export function readNotify(r: Reader, field: Field, path: string, out: Pick<ApprovalConfig, 'notify'>): void {
  if (!isMap(field.value)) {
    const url = r.url(field, path);
    if (url !== undefined) out.notify = url;
    return;
  }
  const f = r.fields(
    field.value,
    NOTIFY_KEYS,
    path,
    field.key,
    '; write notify: URL (JSON) or notify: { slack: URL } (a Slack incoming webhook)',
  );
  if (!f) return;
  const slack = r.require(f, 'slack', path, field.key);
  if (!slack) return;
  const url = r.url(slack, `${path}.slack`);
  if (url !== undefined) out.notify = { slack: url };
}

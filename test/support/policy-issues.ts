/**
 * What a policy that should not load is refused with: its issues, formatted as `jitkey` prints
 * them (`file:line:col: path: message`). A policy that loads is a test failure, not an empty list.
 */
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import { formatIssue, PolicyError } from '../../exchanger/policy/model/errors.js';

export function loadErrors(text: string, file = 'p.yaml'): string[] {
  try {
    loadPolicy(text, file);
  } catch (e) {
    if (e instanceof PolicyError) return e.issues.map((i) => formatIssue(i));
    throw e;
  }
  throw new Error('the policy loaded');
}

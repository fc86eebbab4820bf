/**
 * `JITKEY_GITLAB_WEBHOOK_TOKENS_FILE`, `JITKEY_BUILDKITE_WEBHOOK_TOKENS_FILE`: who may send the
 * GitLab and Buildkite webhooks (`server/ci-webhooks.ts`), read once at start; a file that
 * cannot be read or parsed stops the start, naming the file and line (never a token).
 */
import { readFileSync } from 'node:fs';
import { type CiWebhookSender, parseSenders } from '../server/ci-webhooks.js';

export interface CiWebhookSenders {
  gitlab?: readonly CiWebhookSender[];
  buildkite?: readonly CiWebhookSender[];
}

export function ciWebhooksFromEnv(env: NodeJS.ProcessEnv): CiWebhookSenders {
  const read = (name: string, options: { projects?: boolean } = {}) => {
    const file = env[name];
    if (!file) return undefined;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    return parseSenders(text, file, options);
  };
  const gitlab = read('JITKEY_GITLAB_WEBHOOK_TOKENS_FILE', { projects: true });
  const buildkite = read('JITKEY_BUILDKITE_WEBHOOK_TOKENS_FILE');
  return { ...(gitlab ? { gitlab } : {}), ...(buildkite ? { buildkite } : {}) };
}

/**
 * The Action's inputs, parsed strictly: a typo fails the step with the input's name rather than
 * turning into a default. Defaults here are the same as in action.yml (a test holds them equal), so
 * the Action behaves the same when a runner or a test leaves an input unset.
 */
import { parseDuration } from '../../exchanger/duration.js';
import { ActionError } from '../shared/errors.js';
import { parseExchangerUrl } from '../shared/exchanger-url.js';

export interface Inputs {
  /** Base URL, always ending in `/`, for resolving `v1/…` paths. */
  exchangerUrl: URL;
  /** The URL as the user wrote it (no trailing slash), for messages and `jitkey approve --url`. */
  exchangerUrlText: string;
  role: string;
  audience: string;
  durationSeconds: number | undefined;
  exportEnv: boolean;
  outputCredentials: boolean;
  revoke: boolean;
  /** Renew the lease in the background for the whole job (docs/reference.md section 5). */
  refresh: boolean;
  retries: number;
  approvalTimeoutSeconds: number;
}

export const INPUT_DEFAULTS: Readonly<Record<string, string>> = {
  audience: 'jitkey',
  'export-env': 'true',
  'output-credentials': 'false',
  revoke: 'true',
  refresh: 'false',
  retries: '3',
  'approval-timeout': '30m',
};

const TRUE = new Set(['true', 'True', 'TRUE']);
const FALSE = new Set(['false', 'False', 'FALSE']);

export function readInputs(getInput: (name: string) => string): Inputs {
  const problems: string[] = [];
  const get = (name: string) => getInput(name).trim() || INPUT_DEFAULTS[name] || '';
  const field = <T>(name: string, parse: (text: string) => T, fallback: T): T => {
    try {
      return parse(get(name));
    } catch (e) {
      problems.push(`input '${name}': ${e instanceof Error ? e.message : String(e)}`);
      return fallback;
    }
  };
  const required = (text: string) => {
    if (!text) throw new Error('is required');
    return text;
  };

  const url = field('exchanger-url', (t) => parseExchangerUrl(required(t)), undefined);
  const inputs = {
    role: field('role', required, ''),
    audience: field('audience', required, ''),
    durationSeconds: field('duration', (t) => (t ? parseDuration(t) : undefined), undefined),
    exportEnv: field('export-env', parseBoolean, true),
    outputCredentials: field('output-credentials', parseBoolean, false),
    revoke: field('revoke', parseBoolean, true),
    refresh: field('refresh', parseBoolean, false),
    retries: field('retries', parseRetries, 3),
    approvalTimeoutSeconds: field('approval-timeout', parseDuration, 1800),
  };
  if (inputs.refresh && !inputs.exportEnv) {
    problems.push(
      "input 'refresh': true needs export-env: true (later steps find the credentials agent through exported variables)",
    );
  }
  if (problems.length > 0 || !url) {
    throw new ActionError('invalid_input', `Invalid inputs:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  return { exchangerUrl: url.base, exchangerUrlText: url.text, ...inputs };
}

/** YAML 1.2 core schema booleans only: `yes`, `on`, `1` are mistakes worth hearing about. */
export function parseBoolean(text: string): boolean {
  if (TRUE.has(text)) return true;
  if (FALSE.has(text)) return false;
  throw new Error(`must be true or false, got '${text}'`);
}

export function parseRetries(text: string): number {
  const n = /^\d{1,3}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 0 && n <= 100)) throw new Error(`must be a whole number from 0 to 100, got '${text}'`);
  return n;
}

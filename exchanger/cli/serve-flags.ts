/**
 * `jitkey serve`'s flags and the settings read with them, all refused here, before any worker or
 * store starts, with the reason once: the port, the worker count, the HTTP limits, the trusted
 * proxies, the audit retention, the SIEM export and the console.
 */
import { availableParallelism } from 'node:os';
import { consoleConfigFromEnv } from '../console/config.js';
import { parseDuration } from '../duration.js';
import { exportFromEnv } from '../export/from-env.js';
import { githubApiUrlFromEnv, githubAppConfigFromEnv } from '../github/config.js';
import { parseLogLevel } from '../log.js';
import { type ProxyTrust, parseProxyTrust } from '../net/client-address.js';
import { limitsFromEnv } from '../server/limits.js';
import { parseStoreUrl } from '../store/open.js';
import { parse, required, UsageError } from './args.js';
import { workerShare } from './worker-share.js';

const USAGE =
  'jitkey serve --policy FILE|DIR [--port 8080] [--host 127.0.0.1] [--store sqlite:./jitkey.db|postgres://…] [--workers N] [--audit-retention 90d] [--no-console] [--trusted-proxies CIDR,…] [--forwarded-header x-forwarded-for|forwarded]';
const MAX_WORKERS = 256;

export type ServeFlags = ReturnType<typeof serveFlags>;

export function serveFlags(argv: string[], env: NodeJS.ProcessEnv) {
  const { values } = parse(
    argv,
    {
      policy: { type: 'string' },
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      store: { type: 'string', default: env.JITKEY_STORE ?? 'sqlite:./jitkey.db' },
      workers: { type: 'string', default: env.JITKEY_WORKERS ?? '' },
      'audit-retention': { type: 'string', default: env.JITKEY_AUDIT_RETENTION ?? '' },
      'no-console': { type: 'boolean', default: false },
      'trusted-proxies': { type: 'string', default: env.JITKEY_TRUSTED_PROXIES ?? '' },
      'forwarded-header': { type: 'string', default: env.JITKEY_FORWARDED_HEADER ?? '' },
    },
    USAGE,
  );
  const policyPath = required(values.policy, '--policy', USAGE);
  // Refused before anything starts: a typo must not silently log at another level.
  const level = parseLogLevel(env.JITKEY_LOG_LEVEL);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be 0–65535, got '${values.port}'`);
  const storeUrl = values.store!;
  const workers = workerCount(values.workers || defaultWorkers(storeUrl), storeUrl);
  return {
    policyPath,
    level,
    port,
    host: values.host!,
    storeUrl,
    workers,
    // The per-address connection cap holds for the whole server: each worker takes its share.
    limits: workerShare(limitsFromEnv(env), workers),
    proxyTrust: parseProxyTrust(
      { proxies: values['trusted-proxies'], header: values['forwarded-header'] },
      {
        proxies: '--trusted-proxies (or JITKEY_TRUSTED_PROXIES)',
        header: '--forwarded-header (or JITKEY_FORWARDED_HEADER)',
      },
    ),
    retention: auditRetention(values['audit-retention']),
    // The SIEM export (docs/siem-export.md), refused here when misconfigured: off unless JITKEY_EXPORT_TO.
    siemExport: exportFromEnv(env),
    // The console is on when the App's OAuth client is configured; a half configuration stops the start.
    consoleConfig: consoleConfigFromEnv(env, {
      disabled: values['no-console'] === true,
      apiUrl: githubApiUrlFromEnv(env),
      hasApp: githubAppConfigFromEnv(env) !== undefined,
    }),
  };
}

/** What the `listening` line says of the trusted proxies, when there are any. */
export function trustedProxiesLine(trust: ProxyTrust): Record<string, unknown> {
  if (!trust.proxies.ranges.length) return {};
  return { trusted_proxies: trust.proxies.ranges, forwarded_header: trust.header };
}

/**
 * `--workers` unset: one process on SQLite, where a second worker has cost more CPU per exchange
 * than it adds in exchanges/s, whichever process writes the file (README, Performance); one per
 * CPU on PostgreSQL.
 */
export function defaultWorkers(storeUrl: string): string {
  return String(parseStoreUrl(storeUrl).kind === 'sqlite' ? 1 : availableParallelism());
}

/** `--workers N`: 1 is one process; more need a store every process can share. */
function workerCount(text: string, storeUrl: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS)
    throw new UsageError(
      `--workers (or JITKEY_WORKERS) must be a whole number from 1 to ${MAX_WORKERS}, got '${text}'`,
    );
  const location = parseStoreUrl(storeUrl);
  if (n > 1 && location.kind === 'sqlite' && location.path === ':memory:')
    throw new UsageError(
      `--store sqlite::memory: is private to one process, so ${n} workers would not share replay protection: use a file (sqlite:./jitkey.db) or --workers 1`,
    );
  return n;
}

/**
 * `--audit-retention 90d` (or `JITKEY_AUDIT_RETENTION`): audit rows older than this go in the
 * store's background purge. Unset keeps them forever, as before.
 */
function auditRetention(text: string | undefined): { auditRetentionDays?: number } {
  if (!text) return {};
  let seconds: number;
  try {
    seconds = parseDuration(text);
  } catch {
    throw new Error(`--audit-retention must be a duration such as 90d or 2160h, got '${text}'`);
  }
  if (seconds < 3600) {
    throw new Error(
      `--audit-retention '${text}' is under an hour: audit rows must outlive the leases they record`,
    );
  }
  return { auditRetentionDays: seconds / 86_400 };
}

/**
 * GitHub lease activity: the organization audit log, searched by the token's `hashed_token`
 * (base64 SHA-256 of the installation token, recorded at mint time: never the token).
 *
 *   GET /orgs/{org}/audit-log?phrase=hashed_token:"…" created:DAY..DAY&include=all&order=asc&per_page=100
 *
 * GitHub's audit log records, for actions taken outside the web UI, the SHA-256 of the token that
 * authenticated them ("About token data in the audit log"); the endpoint needs the App's
 * Administration: read organization permission (`organization_administration`) and exists for
 * organizations on GitHub Enterprise Cloud only. A 403 or 404 (the permission or the plan is
 * missing) is said plainly as the reason the activity is unavailable. Pages follow the `Link`
 * header's `rel="next"`, on the API's own origin only (the App's token goes nowhere else).
 * GitHub answers this endpoint 1,750 queries an hour per user and address: one queue per
 * organization spaces the pages (`budget.ts`), and a rate-limit answer delays the poll
 * (`ActivityThrottled`), never loses it.
 *
 * Kept of each event: time (`@timestamp`), action, repository, and in `details` the actor, user
 * agent, operation type (`access` is a read) and programmatic access type. Not the rest (no actor
 * address, no request data).
 */
import type { GithubApp } from '../github/app.js';
import type { Logger } from '../log.js';
import { fetchTransport, type HttpAnswer, httpCall, type Transport } from '../net/http-client.js';
import type { ActivityEvent, ActivityKey } from '../store/activity-types.js';
import { upstreamMessage } from '../text/upstream-message.js';
import type { RateBudget } from './budget.js';
import { type ActivityLookup, ActivityThrottled, ActivityTruncated } from './cloudtrail.js';
import { eventText as text } from './event-text.js';

/** The installation token's permission the audit-log endpoint needs. */
export const AUDIT_LOG_PERMISSION = { organization_administration: 'read' } as const;
const API_VERSION = '2022-11-28';
const TOKEN_MARGIN_MS = 5 * 60_000;
/** 100 events a page are tens of kilobytes; more is not an audit-log page. */
const MAX_PAGE_BYTES = 4 * 1024 * 1024;

export interface GithubAuditLogOptions {
  app: Pick<GithubApp, 'apiUrl' | 'createInstallationToken'>;
  budget: RateBudget;
  log: Logger;
  /** The HTTP core's transport (default: Node's fetch). */
  transport?: Transport;
  now?: () => Date;
  timeoutMs?: number;
  /** Pages one poll reads at most (100 events each); past it the events read are kept (`ActivityTruncated`). */
  maxPages?: number;
}

type Found = Omit<ActivityEvent, 'leaseId' | 'keyId'>;

export function githubAuditLogLookup(options: GithubAuditLogOptions): ActivityLookup {
  const transport = options.transport ?? fetchTransport();
  const now = options.now ?? (() => new Date());
  const api = new URL(`${options.app.apiUrl.replace(/\/$/, '')}/`);
  const maxPages = options.maxPages ?? 20;
  const tokens = new Map<string, { token: string; expiresAt: Date }>();

  const tokenFor = async (org: string, fresh: boolean): Promise<string> => {
    const cached = tokens.get(org.toLowerCase());
    if (!fresh && cached && cached.expiresAt.getTime() - TOKEN_MARGIN_MS > now().getTime()) {
      return cached.token;
    }
    try {
      const t = await options.app.createInstallationToken(org, { permissions: AUDIT_LOG_PERMISSION });
      tokens.set(org.toLowerCase(), { token: t.token, expiresAt: t.expiresAt });
      return t.token;
    } catch (err) {
      const message = (err as Error).message;
      // Only GitHub's refusal (403, 422) is about the permission; a 5xx or no answer is not.
      if (!/GitHub API HTTP (403|422)\b/.test(message)) {
        throw new Error(`no token to read the audit log of '${org}': ${message}`);
      }
      throw new Error(
        `no token to read the audit log of '${org}': the GitHub App needs the organization permission Administration: read (organization_administration) on its installation there (${message})`,
      );
    }
  };

  const get = async (url: URL, org: string, retried = false): Promise<HttpAnswer> => {
    await options.budget.take(org.toLowerCase());
    const res = await httpCall(
      {
        name: `GitHub GET /orgs/${org}/audit-log`,
        method: 'GET',
        url,
        headers: {
          authorization: `token ${await tokenFor(org, retried)}`,
          accept: 'application/vnd.github+json',
          'x-github-api-version': API_VERSION,
          'user-agent': 'jitkey',
        },
        timeoutMs: options.timeoutMs ?? 10_000,
        maxBytes: MAX_PAGE_BYTES,
      },
      transport,
    );
    // Our cached token was revoked meanwhile: one fresh one.
    return res.status === 401 && !retried ? get(url, org, true) : res;
  };

  return async (key: ActivityKey, range: { start: Date; end: Date }) => {
    const org = key.account;
    let url: URL | undefined = new URL(`orgs/${encodeURIComponent(org)}/audit-log`, api);
    url.search = new URLSearchParams({
      // GitHub's search takes whole days; the window is cut to the millisecond below.
      phrase: `hashed_token:"${key.keyId}" created:${day(range.start)}..${day(range.end)}`,
      include: 'all',
      order: 'asc',
      per_page: '100',
    }).toString();
    const found: Found[] = [];
    for (let pages = 0; url; pages++) {
      if (pages >= maxPages) throw new ActivityTruncated(`more than ${maxPages} pages of audit log`, found);
      const res = await get(url, org);
      if (!res.ok) throw refusal(res, org);
      const body = res.json();
      if (!Array.isArray(body)) throw new Error('GitHub answered the audit log with something not a list');
      for (const raw of body) {
        const e = eventOf(raw, key.keyId);
        if (e && e.at >= range.start && e.at <= range.end) found.push(e);
      }
      url = nextPage(res.header('link') ?? null, api);
    }
    return found;
  };
}

function day(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** The `rel="next"` URL of a Link header, when it is on the API's own origin and path. */
export function nextPage(link: string | null, api: URL): URL | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const m = /^\s*<([^>]+)>\s*;(.*)$/.exec(part);
    if (!m || !/\brel="?next"?/.test(m[2]!)) continue;
    const next = new URL(m[1]!, api);
    if (next.origin !== api.origin || !next.pathname.startsWith(api.pathname)) {
      throw new Error(`GitHub's Link header pointed off the API (${next.origin}): not followed`);
    }
    return next;
  }
  return undefined;
}

function refusal(res: HttpAnswer, org: string): Error {
  let message = '';
  try {
    const body = res.json() as { message?: unknown };
    if (typeof body.message === 'string') message = upstreamMessage(body.message);
  } catch {
    // no JSON body: the status says enough
  }
  // A secondary rate limit may come as a bare 403 whose message alone says so (GitHub's
  // "Rate limits for the REST API"): not a missing permission.
  const limited =
    res.status === 429 ||
    (res.status === 403 &&
      (res.header('x-ratelimit-remaining') === '0' ||
        res.header('retry-after') !== undefined ||
        /\brate limit/i.test(message)));
  if (limited) return new ActivityThrottled(`GitHub rate-limited the audit log of '${org}' (${res.status})`);
  const said = message ? `: ${message}` : '';
  if (res.status === 403) {
    return new Error(
      `GitHub refused the audit log of '${org}' (403${said}): the GitHub App needs the organization permission Administration: read`,
    );
  }
  if (res.status === 404) {
    return new Error(
      `GitHub has no audit-log API for '${org}' (404${said}): it exists for organizations on GitHub Enterprise Cloud only`,
    );
  }
  return new Error(`GitHub answered the audit log of '${org}' with ${res.status}${said}`);
}

/** The fields an incident responder reads of one audit-log event; undefined for another token's. */
export function eventOf(raw: unknown, hashedToken: string): Found | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const e = raw as Record<string, unknown>;
  if (e.hashed_token !== hashedToken) return undefined;
  const ms = typeof e['@timestamp'] === 'number' ? e['@timestamp'] : Number(e.created_at);
  const action = text(e.action);
  if (!Number.isFinite(ms) || !action) return undefined;
  const resources: Found['resources'] = [];
  const repo = text(e.repo) ?? text(e.repository);
  if (repo) resources.push({ type: 'repository', name: repo });
  const details: Record<string, string> = {};
  for (const field of ['actor', 'user_agent', 'operation_type', 'programmatic_access_type'] as const) {
    const value = text(e[field]);
    if (value) details[field] = value;
  }
  const operation = details.operation_type;
  return {
    eventId: text(e._document_id) ?? `${ms}/${action}`,
    at: new Date(ms),
    name: action,
    source: 'github',
    resources,
    ...(operation ? { readOnly: operation === 'access' } : {}),
    ...(Object.keys(details).length ? { details } : {}),
  };
}

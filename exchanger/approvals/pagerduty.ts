/**
 * Who is on call now, from PagerDuty's REST API (`GET /oncalls`), for on-call auto-approval
 * (`on-call.ts`). The token (`JITKEY_PAGERDUTY_TOKEN`) goes only in the `Authorization` header and
 * is never logged. https only (http on loopback, for tests); through the HTTP core
 * (`net/http-client.ts`): a bounded timeout and answer, no redirects.
 */
import { JitkeyError } from '../errors.js';
import { fetchTransport, type HttpAnswer, httpCall } from '../net/http-client.js';
import { checkUrl } from '../net/url-rule.js';
import type { OnCallUser } from '../policy/model/types.js';

export const PAGERDUTY_API_URL = 'https://api.pagerduty.com';
export const PAGERDUTY_TIMEOUT_MS = 5000;
/** Pages of 100 on-call entries read at most: schedules that long are not what this is for. */
const MAX_PAGES = 5;

export interface OnCallDirectory {
  /** The id of a schedule in `scheduleIds` that has `user` on call at `now`; undefined if none. */
  onCallIn(scheduleIds: readonly string[], user: OnCallUser, now: Date): Promise<string | undefined>;
}

interface OnCallEntry {
  user?: { id?: string; email?: string } | null;
  schedule?: { id?: string } | null;
  start?: string | null;
  end?: string | null;
}

export function pagerDuty(options: {
  token: string;
  baseUrl?: string;
  fetch?: typeof globalThis.fetch;
  timeoutMs?: number;
}): OnCallDirectory {
  const base = (options.baseUrl ?? PAGERDUTY_API_URL).replace(/\/+$/, '');
  const transport = fetchTransport(options.fetch);
  return {
    async onCallIn(scheduleIds, user, now) {
      const wanted = new Set(scheduleIds);
      for (let page = 0; page < MAX_PAGES; page++) {
        const q = new URLSearchParams();
        for (const id of scheduleIds) q.append('schedule_ids[]', id);
        q.set('since', now.toISOString());
        q.set('until', new Date(now.getTime() + 1000).toISOString());
        if ('email' in user) q.append('include[]', 'users');
        q.set('limit', '100');
        q.set('offset', String(page * 100));
        const res = await httpCall(
          {
            name: 'PagerDuty GET /oncalls',
            method: 'GET',
            url: `${base}/oncalls?${q}`,
            headers: {
              authorization: `Token token=${options.token}`,
              accept: 'application/vnd.pagerduty+json;version=2',
            },
            timeoutMs: options.timeoutMs ?? PAGERDUTY_TIMEOUT_MS,
          },
          transport,
        ).catch((err: unknown) => {
          throw new JitkeyError('upstream_error', (err as Error).message);
        });
        if (!res.ok)
          throw new JitkeyError('upstream_error', `PagerDuty answered ${res.status} to GET /oncalls`);
        const body = parsed(res);
        if (!body || !Array.isArray(body.oncalls)) {
          throw new JitkeyError('upstream_error', 'PagerDuty answered GET /oncalls without an oncalls list');
        }
        for (const entry of body.oncalls) {
          const schedule = entry.schedule?.id;
          if (!schedule || !wanted.has(schedule) || !covers(entry, now)) continue;
          if (matches(entry.user, user)) return schedule;
        }
        if (!body.more) return undefined;
      }
      return undefined;
    },
  };
}

function parsed(res: HttpAnswer): { oncalls?: OnCallEntry[]; more?: boolean } | undefined {
  try {
    return res.json() as { oncalls?: OnCallEntry[]; more?: boolean } | undefined;
  } catch {
    return undefined;
  }
}

function covers(entry: OnCallEntry, now: Date): boolean {
  const start = entry.start ? Date.parse(entry.start) : Number.NEGATIVE_INFINITY;
  const end = entry.end ? Date.parse(entry.end) : Number.POSITIVE_INFINITY;
  return start <= now.getTime() && now.getTime() < end;
}

function matches(found: OnCallEntry['user'], user: OnCallUser): boolean {
  if (!found) return false;
  if ('id' in user) return found.id === user.id;
  return typeof found.email === 'string' && found.email.toLowerCase() === user.email;
}

/** `JITKEY_PAGERDUTY_TOKEN` (and `JITKEY_PAGERDUTY_API_URL`, checked like every endpoint). */
export function pagerDutyFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): OnCallDirectory | undefined {
  const token = env.JITKEY_PAGERDUTY_TOKEN?.trim();
  const url = env.JITKEY_PAGERDUTY_API_URL?.trim();
  if (url) checkUrl(url, 'JITKEY_PAGERDUTY_API_URL');
  if (!token) return undefined;
  return pagerDuty({ token, ...(url ? { baseUrl: url } : {}) });
}

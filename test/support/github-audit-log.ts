/**
 * GitHub's organization audit log on the GitHub stand-in (`github-standin.ts`), for lease activity:
 *
 *   const log = addAuditLog(gh, { orgs: ['acme'] });   // orgs on GitHub Enterprise Cloud (others: 404)
 *   log.act(token, 'git.push', { repo: 'acme/web' })    // what GitHub records of an action done with
 *                                                       // an installation token it issued
 *   log.noise(500)                                      // unrelated events (other tokens, people)
 *   log.queries                                         // every audit-log request: org, phrase, after, status
 *
 * `GET /orgs/{org}/audit-log` checks like GitHub: an installation token of that organization's
 * installation with `organization_administration` (else 403 "Resource not accessible by
 * integration"); the organization must have the API (else 404); `include` web|git|all (git events
 * only with git or all), `order` asc|desc, `per_page` ≤ 100. The phrase is GitHub's search syntax,
 * of which this stand-in understands `hashed_token:"…"` and `created:DAY..DAY` (anything else: 422,
 * so a test fails when jitkey sends what it cannot check). Pages by an `after` cursor given in the
 * `Link` header (`rel="next"`), as GitHub does. Events carry `@timestamp` (ms), `_document_id`,
 * `action`, `actor`, `org`, `repo`, `user_agent`, `operation_type`, `hashed_token`,
 * `programmatic_access_type`, `actor_ip`. Test-only.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { GithubStandin } from './github-standin.js';

export interface AuditEvent {
  '@timestamp': number;
  _document_id: string;
  action: string;
  actor: string;
  org: string;
  repo?: string;
  user_agent?: string;
  operation_type?: string;
  hashed_token?: string;
  programmatic_access_type?: string;
  actor_ip: string;
  git: boolean;
}

export interface AuditQuery {
  org: string;
  phrase: string;
  after?: string;
  status: number;
}

export interface AuditLogStandin {
  events: AuditEvent[];
  queries: AuditQuery[];
  /** Records an action done with an installation token the stand-in issued (it must be live). */
  act(
    token: string,
    action: string,
    fields?: { repo?: string; userAgent?: string; operationType?: string; at?: Date },
  ): AuditEvent;
  /** `count` events of people and other tokens, in the same organization and time. */
  noise(count: number, org?: string): void;
}

const hash = (token: string) => createHash('sha256').update(token).digest('base64');
const PHRASE = /^hashed_token:"([A-Za-z0-9+/=]+)" created:(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$/;

export function addAuditLog(
  gh: GithubStandin,
  options: { orgs: string[]; now?: () => Date },
): AuditLogStandin {
  const now = options.now ?? (() => new Date());
  const enterprise = new Set(options.orgs.map((o) => o.toLowerCase()));
  const events: AuditEvent[] = [];
  const queries: AuditQuery[] = [];
  const event = (fields: Omit<AuditEvent, '_document_id' | 'actor_ip'>): AuditEvent => {
    const e = { ...fields, _document_id: randomBytes(16).toString('base64url'), actor_ip: '192.0.2.10' };
    events.push(e);
    return e;
  };

  gh.addRoute(({ method, path, query, auth, token }) => {
    const m = method === 'GET' ? /^\/orgs\/([^/]+)\/audit-log$/.exec(path) : null;
    if (!m) return undefined;
    const org = m[1]!;
    const q: AuditQuery = { org, phrase: query.get('phrase') ?? '', status: 0 };
    if (query.get('after')) q.after = query.get('after')!;
    queries.push(q);
    const answer = (status: number, body: unknown, headers?: Record<string, string>) => {
      q.status = status;
      return headers
        ? ([status, body, headers] as [number, unknown, Record<string, string>])
        : ([status, body] as [number, unknown]);
    };
    const message = (status: number, text: string) =>
      answer(status, {
        message: text,
        documentation_url: 'https://docs.github.com/rest',
        status: String(status),
      });
    if (auth.kind === 'none') return message(401, 'Requires authentication');
    if (auth.kind === 'invalid') return message(401, auth.reason);
    if (!enterprise.has(org.toLowerCase())) return message(404, 'Not Found');
    if (
      !token ||
      token.owner.toLowerCase() !== org.toLowerCase() ||
      !token.permissions.organization_administration
    ) {
      return message(403, 'Resource not accessible by integration');
    }
    const include = query.get('include') ?? 'web';
    const order = query.get('order') ?? 'desc';
    const perPage = Number(query.get('per_page') ?? '30');
    if (!['web', 'git', 'all'].includes(include) || !['asc', 'desc'].includes(order)) {
      return message(422, 'Invalid include or order');
    }
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100)
      return message(422, 'per_page must be 1..100');
    const phrase = PHRASE.exec(q.phrase);
    if (!phrase) return message(422, `the stand-in does not understand the phrase '${q.phrase}'`);
    const [, hashed, from, to] = phrase as unknown as [string, string, string, string];
    const start = Date.parse(`${from}T00:00:00Z`);
    const end = Date.parse(`${to}T00:00:00Z`) + 86_400_000;
    const matching = events
      .filter((e) => e.org.toLowerCase() === org.toLowerCase() && e.hashed_token === hashed)
      .filter((e) => e['@timestamp'] >= start && e['@timestamp'] < end)
      .filter((e) => (e.git ? include !== 'web' : include !== 'git'))
      .sort((a, b) => (order === 'asc' ? 1 : -1) * (a['@timestamp'] - b['@timestamp']));
    const after = q.after ? Number(Buffer.from(q.after, 'base64url').toString()) : 0;
    const page = matching.slice(after, after + perPage).map(({ git: _, ...e }) => e);
    if (after + perPage >= matching.length) return answer(200, page);
    const next = new URLSearchParams(query);
    next.set('after', Buffer.from(String(after + perPage)).toString('base64url'));
    return answer(200, page, { link: `<${gh.url}/orgs/${org}/audit-log?${next}>; rel="next"` });
  });

  return {
    events,
    queries,
    act(token, action, fields = {}) {
      const t = gh.tokenInfo(token);
      if (!t) throw new Error('GitHub would refuse this token (unknown, revoked or expired)');
      if (
        fields.repo &&
        !t.repositories.some((r) => `${t.owner}/${r}`.toLowerCase() === fields.repo!.toLowerCase())
      ) {
        throw new Error(`GitHub would refuse: the token does not cover ${fields.repo}`);
      }
      return event({
        '@timestamp': (fields.at ?? now()).getTime(),
        action,
        actor: 'jitkey[bot]',
        org: t.owner,
        ...(fields.repo ? { repo: fields.repo } : {}),
        user_agent: fields.userAgent ?? 'git/2.45.1',
        operation_type: fields.operationType ?? 'access',
        hashed_token: hash(token),
        programmatic_access_type: 'GitHub App server-to-server token',
        git: action.startsWith('git.'),
      });
    },
    noise(count, org = options.orgs[0]!) {
      for (let i = 0; i < count; i++) {
        event({
          '@timestamp': now().getTime(),
          action: i % 2 ? 'repo.access' : 'git.clone',
          actor: `person${i % 7}`,
          org,
          repo: `${org}/web`,
          hashed_token: hash(`ghs_someone_else_${i}`),
          git: i % 2 === 0,
        });
      }
    },
  };
}

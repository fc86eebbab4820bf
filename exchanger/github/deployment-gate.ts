/**
 * The GitHub calls of the deployment gate (custom deployment protection rules), as the App:
 * installation tokens by the installation id a delivery names, the run a deployment waits in,
 * the answer (`POST …/actions/runs/{id}/deployment_protection_rule`), and what the reconciler
 * reads (installations, their repositories, waiting runs, their pending deployments).
 *
 * Within the App's rate limit: every answer's `x-ratelimit-remaining` / `x-ratelimit-reset` and a
 * refusal's `Retry-After` pause this client (every call until then fails at once with
 * `rate_limited`), so a reconciler pass stops instead of spending the rest of the hour's budget.
 * The HTTP core (`net/http-client.ts`), not Octokit: the rate-limit headers are the point.
 */
import type { KeyObject } from 'node:crypto';
import { JitkeyError } from '../errors.js';
import { fetchTransport, type HttpAnswer, httpCall } from '../net/http-client.js';
import { upstreamMessage } from '../text/upstream-message.js';
import { parseAppPrivateKey, signAppJwt } from './jwt.js';

export interface GateRun {
  id: string;
  attempt: string;
  /** `push`, `workflow_dispatch`, … */
  event: string;
  headSha: string;
  /** Branch (or tag) name, unqualified, as GitHub reports it on a run. */
  headBranch?: string;
  /** The workflow file, `.github/workflows/deploy.yml`. */
  path: string;
  actor?: { login: string; id: string };
  triggeringActor?: { login: string; id: string };
}

export interface GateReview {
  environment_name: string;
  /** Absent for a status report. */
  state?: 'approved' | 'rejected';
  comment: string;
}

export interface GateGithub {
  getRun(installationId: string, owner: string, repo: string, runId: string): Promise<GateRun>;
  review(
    installationId: string,
    owner: string,
    repo: string,
    runId: string,
    review: GateReview,
  ): Promise<void>;
  installations(): Promise<Array<{ id: string; owner: string }>>;
  repositories(installationId: string): Promise<Array<{ owner: string; name: string; id: string }>>;
  waitingRuns(installationId: string, owner: string, repo: string): Promise<GateRun[]>;
  /** The environments a run's jobs wait on. */
  pendingEnvironments(installationId: string, owner: string, repo: string, runId: string): Promise<string[]>;
  /** Is this App (by its id, from `GET /app`) an enabled custom protection rule of the environment? */
  isRuleOf(installationId: string, owner: string, repo: string, environment: string): Promise<boolean>;
  /** When the rate limit lets calls through again (ms since the epoch); 0 when it does now. */
  pausedUntil(): number;
}

export interface GateGithubOptions {
  appId: string;
  privateKey: string | KeyObject;
  apiUrl: string;
  fetch?: typeof globalThis.fetch;
  now?: () => Date;
  timeoutMs?: number;
}

const API_VERSION = '2022-11-28';
/** What the gate's installation tokens may do: answer the gate, read runs. */
const GATE_PERMISSIONS = { deployments: 'write', actions: 'read' } as const;
const TOKEN_MARGIN_MS = 5 * 60_000;
const PAGE = 100;
/** Pages read of one listing at most: the reconciler is a backstop, not an inventory. */
const MAX_PAGES = 10;
/** A page of 100 deployments or runs is well under this; a larger answer is not GitHub's. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

export function createGateGithub(options: GateGithubOptions): GateGithub {
  const key = parseAppPrivateKey(options.privateKey);
  const transport = fetchTransport(options.fetch);
  const now = options.now ?? (() => new Date());
  const base = options.apiUrl.replace(/\/$/, '');
  const timeoutMs = options.timeoutMs ?? 10_000;
  let paused = 0;
  let appNumber: Promise<number> | undefined;
  let jwt: { jwt: string; exp: number } | undefined;
  const tokens = new Map<string, Promise<{ token: string; expiresAt: number }>>();

  const appAuth = async () => {
    if (!jwt || jwt.exp - 120 <= Math.floor(now().getTime() / 1000)) {
      jwt = await signAppJwt(options.appId, key, now());
    }
    return `Bearer ${jwt.jwt}`;
  };

  /** Reads the rate-limit headers of every answer; pauses the client when GitHub says so. */
  const observe = (res: HttpAnswer) => {
    const at = now().getTime();
    const retryAfter = Number(res.header('retry-after'));
    const remaining = res.header('x-ratelimit-remaining');
    const reset = Number(res.header('x-ratelimit-reset'));
    if (Number.isFinite(retryAfter) && retryAfter > 0 && (res.status === 403 || res.status === 429)) {
      paused = Math.max(paused, at + retryAfter * 1000);
    } else if (remaining === '0' && Number.isFinite(reset) && reset > 0) {
      paused = Math.max(paused, reset * 1000);
    }
  };

  const call = async (
    method: string,
    path: string,
    authorization: string,
    what: string,
    body?: unknown,
  ): Promise<{ status: number; data: unknown; next?: boolean }> => {
    const at = now().getTime();
    if (paused > at) {
      const retryAfter = Math.ceil((paused - at) / 1000);
      throw new JitkeyError(
        'rate_limited',
        `${what}: paused for GitHub's rate limit for ${retryAfter} s more`,
        { retryAfter },
      );
    }
    let res: HttpAnswer;
    try {
      res = await httpCall(
        {
          name: `${method} ${path.split('?')[0]}`,
          method,
          url: `${base}${path}`,
          headers: {
            authorization,
            accept: 'application/vnd.github+json',
            'x-github-api-version': API_VERSION,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          timeoutMs,
          maxBytes: MAX_ANSWER_BYTES,
        },
        transport,
      );
    } catch (err) {
      throw new JitkeyError('upstream_error', `${what}: GitHub API no answer (${(err as Error).message})`);
    }
    observe(res);
    const text = res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (res.status >= 300) {
      const message =
        typeof data === 'object' &&
        data !== null &&
        typeof (data as { message?: unknown }).message === 'string'
          ? `: ${upstreamMessage((data as { message: string }).message)}`
          : '';
      const limited = paused > now().getTime();
      throw new JitkeyError(
        limited ? 'rate_limited' : 'upstream_error',
        `${what}: GitHub API HTTP ${res.status}${message}`,
        limited ? { retryAfter: Math.ceil((paused - now().getTime()) / 1000) } : {},
      );
    }
    return { status: res.status, data, next: /rel="next"/.test(res.header('link') ?? '') };
  };

  const installationToken = async (installationId: string): Promise<string> => {
    const cached = tokens.get(installationId);
    if (cached) {
      const t = await cached.catch(() => undefined);
      if (t && t.expiresAt - TOKEN_MARGIN_MS > now().getTime()) return t.token;
    }
    const p = (async () => {
      const { data } = await call(
        'POST',
        `/app/installations/${encodeURIComponent(installationId)}/access_tokens`,
        await appAuth(),
        `creating a token for installation ${installationId} (it needs Deployments: write and Actions: read)`,
        { permissions: GATE_PERMISSIONS },
      );
      const d = data as { token?: unknown; expires_at?: unknown };
      if (typeof d?.token !== 'string') throw new JitkeyError('upstream_error', 'GitHub answered no token');
      return { token: d.token, expiresAt: Date.parse(String(d.expires_at)) || now().getTime() };
    })();
    tokens.set(installationId, p);
    p.catch(() => {
      if (tokens.get(installationId) === p) tokens.delete(installationId);
    });
    return (await p).token;
  };

  const asInstallation = async (
    installationId: string,
    method: string,
    path: string,
    what: string,
    body?: unknown,
  ) => call(method, path, `token ${await installationToken(installationId)}`, what, body);

  const repoPath = (owner: string, repo: string) =>
    `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`;

  return {
    async getRun(installationId, owner, repo, runId) {
      const { data } = await asInstallation(
        installationId,
        'GET',
        `${repoPath(owner, repo)}/actions/runs/${encodeURIComponent(runId)}`,
        `reading run ${runId} of ${owner}/${repo}`,
      );
      return runOf(data);
    },

    async review(installationId, owner, repo, runId, review) {
      await asInstallation(
        installationId,
        'POST',
        `${repoPath(owner, repo)}/actions/runs/${encodeURIComponent(runId)}/deployment_protection_rule`,
        `answering the deployment gate of run ${runId} of ${owner}/${repo}`,
        review,
      );
    },

    async installations() {
      const out: Array<{ id: string; owner: string }> = [];
      for (let page = 1; page <= MAX_PAGES; page++) {
        const { data, next } = await call(
          'GET',
          `/app/installations?per_page=${PAGE}&page=${page}`,
          await appAuth(),
          "listing the App's installations",
        );
        for (const i of Array.isArray(data) ? data : []) {
          const id = (i as { id?: unknown }).id;
          const owner = (i as { account?: { login?: unknown } }).account?.login;
          if (typeof id === 'number' && typeof owner === 'string') out.push({ id: String(id), owner });
        }
        if (!next) break;
      }
      return out;
    },

    async repositories(installationId) {
      const out: Array<{ owner: string; name: string; id: string }> = [];
      for (let page = 1; page <= MAX_PAGES; page++) {
        const { data, next } = await asInstallation(
          installationId,
          'GET',
          `/installation/repositories?per_page=${PAGE}&page=${page}`,
          `listing the repositories of installation ${installationId}`,
        );
        const repos = (data as { repositories?: unknown[] } | undefined)?.repositories ?? [];
        for (const r of repos) {
          const { id, name, owner } = r as { id?: unknown; name?: unknown; owner?: { login?: unknown } };
          if (typeof id === 'number' && typeof name === 'string' && typeof owner?.login === 'string') {
            out.push({ owner: owner.login, name, id: String(id) });
          }
        }
        if (!next) break;
      }
      return out;
    },

    async waitingRuns(installationId, owner, repo) {
      const out: GateRun[] = [];
      for (let page = 1; page <= MAX_PAGES; page++) {
        const { data, next } = await asInstallation(
          installationId,
          'GET',
          `${repoPath(owner, repo)}/actions/runs?status=waiting&per_page=${PAGE}&page=${page}`,
          `listing the waiting runs of ${owner}/${repo}`,
        );
        const runs = (data as { workflow_runs?: unknown[] } | undefined)?.workflow_runs ?? [];
        for (const r of runs) {
          try {
            out.push(runOf(r));
          } catch {
            // a run GitHub described without its id or attempt is skipped
          }
        }
        if (!next) break;
      }
      return out;
    },

    async pendingEnvironments(installationId, owner, repo, runId) {
      const { data } = await asInstallation(
        installationId,
        'GET',
        `${repoPath(owner, repo)}/actions/runs/${encodeURIComponent(runId)}/pending_deployments`,
        `reading the pending deployments of run ${runId} of ${owner}/${repo}`,
      );
      const names = new Set<string>();
      for (const d of Array.isArray(data) ? data : []) {
        const name = (d as { environment?: { name?: unknown } }).environment?.name;
        if (typeof name === 'string') names.add(name);
      }
      return [...names];
    },

    async isRuleOf(installationId, owner, repo, environment) {
      appNumber ??= call('GET', '/app', await appAuth(), 'reading the App (GET /app)').then(({ data }) => {
        const id = (data as { id?: unknown } | undefined)?.id;
        if (typeof id !== 'number') throw new JitkeyError('upstream_error', 'GET /app answered no id');
        return id;
      });
      appNumber.catch(() => {
        appNumber = undefined;
      });
      const mine = await appNumber;
      const { data } = await asInstallation(
        installationId,
        'GET',
        `${repoPath(owner, repo)}/environments/${encodeURIComponent(environment)}/deployment_protection_rules`,
        `reading the protection rules of environment ${environment} of ${owner}/${repo}`,
      );
      const rules =
        (data as { custom_deployment_protection_rules?: unknown[] } | undefined)
          ?.custom_deployment_protection_rules ?? [];
      return rules.some((r) => {
        const x = r as { enabled?: unknown; app?: { id?: unknown } };
        return x.enabled !== false && x.app?.id === mine;
      });
    },

    pausedUntil: () => (paused > now().getTime() ? paused : 0),
  };
}

function runOf(data: unknown): GateRun {
  const r = (data ?? {}) as Record<string, unknown>;
  const id = r.id;
  const attempt = r.run_attempt;
  if (typeof id !== 'number' || typeof attempt !== 'number') {
    throw new JitkeyError('upstream_error', 'GitHub described a workflow run without its id or run_attempt');
  }
  const user = (u: unknown) => {
    const x = u as { login?: unknown; id?: unknown } | null | undefined;
    return typeof x?.login === 'string' && typeof x.id === 'number'
      ? { login: x.login, id: String(x.id) }
      : undefined;
  };
  const actor = user(r.actor);
  const triggeringActor = user(r.triggering_actor);
  return {
    id: String(id),
    attempt: String(attempt),
    event: typeof r.event === 'string' ? r.event : '',
    headSha: typeof r.head_sha === 'string' ? r.head_sha : '',
    ...(typeof r.head_branch === 'string' ? { headBranch: r.head_branch } : {}),
    path: typeof r.path === 'string' ? r.path : '',
    ...(actor ? { actor } : {}),
    ...(triggeringActor ? { triggeringActor } : {}),
  };
}

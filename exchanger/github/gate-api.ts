/**
 * The deployment gate's GitHub API calls as the App, within its rate limit: every answer's
 * `x-ratelimit-remaining` / `x-ratelimit-reset` and a refusal's `Retry-After` pause this client
 * (every call until then fails at once with `rate_limited`), so a reconciler pass stops instead of
 * spending the rest of the hour's budget. The HTTP core (`net/http-client.ts`), not Octokit: the
 * rate-limit headers are the point. Calls go as the App (its JWT) or as one installation (a token
 * cached per installation until shortly before it expires).
 */
import type { KeyObject } from 'node:crypto';
import { JitkeyError } from '../errors.js';
import { fetchTransport, type HttpAnswer, httpCall } from '../net/http-client.js';
import { upstreamMessage } from '../text/upstream-message.js';
import { parseAppPrivateKey, signAppJwt } from './jwt.js';

export interface GateGithubOptions {
  appId: string;
  privateKey: string | KeyObject;
  apiUrl: string;
  fetch?: typeof globalThis.fetch;
  now?: () => Date;
  timeoutMs?: number;
}

/** One answer: its JSON (undefined when it has none) and whether a next page follows. */
export interface GateAnswer {
  status: number;
  data: unknown;
  next?: boolean;
}

export interface GateApi {
  asApp(method: string, path: string, what: string, body?: unknown): Promise<GateAnswer>;
  asInstallation(
    installationId: string,
    method: string,
    path: string,
    what: string,
    body?: unknown,
  ): Promise<GateAnswer>;
  /** When the rate limit lets calls through again (ms since the epoch); 0 when it does now. */
  pausedUntil(): number;
}

const API_VERSION = '2022-11-28';
/** What the gate's installation tokens may do: answer the gate, read runs. */
const GATE_PERMISSIONS = { deployments: 'write', actions: 'read' } as const;
const TOKEN_MARGIN_MS = 5 * 60_000;
/** A page of 100 deployments or runs is well under this; a larger answer is not GitHub's. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

export function createGateApi(options: GateGithubOptions): GateApi {
  const key = parseAppPrivateKey(options.privateKey);
  const transport = fetchTransport(options.fetch);
  const now = options.now ?? (() => new Date());
  const base = options.apiUrl.replace(/\/$/, '');
  const timeoutMs = options.timeoutMs ?? 10_000;
  let paused = 0;
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
  ): Promise<GateAnswer> => {
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

  return {
    asApp: async (method, path, what, body) => call(method, path, await appAuth(), what, body),
    asInstallation,
    pausedUntil: () => (paused > now().getTime() ? paused : 0),
  };
}

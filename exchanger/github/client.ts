/**
 * How the exchanger talks to GitHub's REST API as its App: one Octokit instance with no auth
 * strategy, so every call carries its own `authorization` (the App JWT, an installation token or
 * an approver's token) and its own timeout. The App JWT is cached until 2 minutes before it expires.
 */
import type { KeyObject } from 'node:crypto';
import { Octokit } from '@octokit/rest';
import { type Logger, silentLogger } from '../log.js';
import { parseServiceUrl } from '../net/service-url.js';
import { DEFAULT_GITHUB_API_URL } from './config.js';
import { parseAppPrivateKey, signAppJwt } from './jwt.js';

export interface GithubAppOptions {
  /** `JITKEY_GITHUB_APP_ID`: the App id (or client id), the JWT's `iss`. */
  appId: string;
  /** `JITKEY_GITHUB_APP_PRIVATE_KEY(_FILE)`: PEM (PKCS#1 or PKCS#8) or a KeyObject. */
  privateKey: string | KeyObject;
  /** `JITKEY_GITHUB_API_URL`; default https://api.github.com, GHES https://HOST/api/v3. http only on loopback. */
  apiUrl?: string;
  fetch?: typeof globalThis.fetch;
  now?: () => Date;
  log?: Logger;
  /** Per GitHub request; default 10 s. */
  timeoutMs?: number;
}

/**
 * The options every Octokit call here takes: who is asking, and for how long to wait. A type, not
 * an interface, so it fits Octokit's index-signed `RequestParameters`.
 */
export type CallOptions = {
  headers: { authorization: string; 'x-github-api-version': string };
  request: { signal: AbortSignal };
};

export interface GithubClient {
  readonly apiUrl: string;
  readonly octokit: Octokit;
  readonly now: () => Date;
  /** Call options for this `authorization` header value (`token …`, `Bearer …`). */
  as(authorization: string): CallOptions;
  /** Call options carrying the App JWT (signed anew only when the cached one nears expiry). */
  asApp(): Promise<CallOptions>;
}

const API_VERSION = '2022-11-28';
const JWT_REUSE_MARGIN_S = 120;

export function createGithubClient(options: GithubAppOptions): GithubClient {
  const appId = String(options.appId).trim();
  if (!appId) throw new Error('GitHub App: appId is required');
  const key = parseAppPrivateKey(options.privateKey);
  const apiUrl = parseServiceUrl(options.apiUrl ?? DEFAULT_GITHUB_API_URL, 'JITKEY_GITHUB_API_URL')
    .toString()
    .replace(/\/$/, '');
  const now = options.now ?? (() => new Date());
  const log = options.log ?? silentLogger;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const octokit = new Octokit({
    baseUrl: apiUrl,
    userAgent: 'jitkey',
    request: options.fetch ? { fetch: options.fetch } : {},
    // Octokit logs each request (method, path, status): operators' debug level, no headers.
    log: {
      debug: (m: string) => log.debug(m),
      info: (m: string) => log.debug(m),
      warn: (m: string) => log.warn(m),
      error: (m: string) => log.debug(m),
    },
  });

  const as = (authorization: string): CallOptions => ({
    headers: { authorization, 'x-github-api-version': API_VERSION },
    request: { signal: AbortSignal.timeout(timeoutMs) },
  });

  let appJwt: { jwt: string; exp: number } | undefined;
  const asApp = async (): Promise<CallOptions> => {
    const nowS = Math.floor(now().getTime() / 1000);
    if (!appJwt || appJwt.exp - JWT_REUSE_MARGIN_S <= nowS) appJwt = await signAppJwt(appId, key, now());
    return as(`Bearer ${appJwt.jwt}`);
  };

  return { apiUrl, octokit, now, as, asApp };
}

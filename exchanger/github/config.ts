/**
 * The GitHub App settings from the environment (reference.md §1, command line), read in one place:
 *
 * | variable                            | option       |
 * |-------------------------------------|--------------|
 * | `JITKEY_GITHUB_APP_ID`              | `appId`      |
 * | `JITKEY_GITHUB_APP_PRIVATE_KEY`     | `privateKey` (PEM; `\n` escapes allowed) |
 * | `JITKEY_GITHUB_APP_PRIVATE_KEY_FILE`| `privateKey` (read from the file)        |
 * | `JITKEY_GITHUB_API_URL`             | `apiUrl` (default https://api.github.com; GHES: https://HOST/api/v3) |
 */
import { readFileSync } from 'node:fs';
import { parseServiceUrl } from '../net/service-url.js';

export const DEFAULT_GITHUB_API_URL = 'https://api.github.com';

export interface GithubAppConfig {
  appId: string;
  privateKey: string;
  apiUrl: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** `JITKEY_GITHUB_API_URL`, checked (http only on loopback), without a trailing slash. */
/** `JITKEY_GITHUB_ISSUER`, trimmed; undefined when unset or blank. */
export function githubIssuerFromEnv(env: Readonly<Record<string, string | undefined>>): string | undefined {
  return env.JITKEY_GITHUB_ISSUER?.trim() || undefined;
}

export function githubApiUrlFromEnv(env: Env = process.env): string {
  const raw = env.JITKEY_GITHUB_API_URL?.trim() || DEFAULT_GITHUB_API_URL;
  return parseServiceUrl(raw, 'JITKEY_GITHUB_API_URL').toString().replace(/\/$/, '');
}

/**
 * The App configuration, or `undefined` when no App is configured (neither id nor key set).
 * Throws, naming the variable, on a half or contradictory configuration.
 */
export function githubAppConfigFromEnv(
  env: Env = process.env,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): GithubAppConfig | undefined {
  const appId = env.JITKEY_GITHUB_APP_ID?.trim();
  const inline = env.JITKEY_GITHUB_APP_PRIVATE_KEY;
  const file = env.JITKEY_GITHUB_APP_PRIVATE_KEY_FILE?.trim();
  if (!appId && !inline && !file) return undefined;
  if (!appId) throw new Error('JITKEY_GITHUB_APP_ID is required when a GitHub App private key is set');
  if (inline && file) {
    throw new Error('set JITKEY_GITHUB_APP_PRIVATE_KEY or JITKEY_GITHUB_APP_PRIVATE_KEY_FILE, not both');
  }
  let privateKey: string;
  if (file) {
    try {
      privateKey = readFile(file);
    } catch (cause) {
      throw new Error(`JITKEY_GITHUB_APP_PRIVATE_KEY_FILE: cannot read '${file}'`, { cause });
    }
  } else if (inline) {
    privateKey = inline;
  } else {
    throw new Error(
      'JITKEY_GITHUB_APP_PRIVATE_KEY or JITKEY_GITHUB_APP_PRIVATE_KEY_FILE is required with JITKEY_GITHUB_APP_ID',
    );
  }
  return { appId, privateKey, apiUrl: githubApiUrlFromEnv(env) };
}

/**
 * Where the Actions tokens of the GitHub at `apiUrl` come from, when its shape says:
 * `api.github.com` → `https://token.actions.githubusercontent.com` (an enterprise's own issuer
 * adds a path), `api.SUBDOMAIN.ghe.com` → `https://token.actions.SUBDOMAIN.ghe.com`, a GHES's
 * `https://HOST/api/v3` → `https://HOST/_services/token`. Undefined for any other shape.
 */
export function actionsIssuerOf(apiUrl: string): string | undefined {
  const url = new URL(apiUrl);
  if (url.hostname === 'api.github.com') return 'https://token.actions.githubusercontent.com';
  const ghe = /^api\.([a-z0-9-]+)\.ghe\.com$/.exec(url.hostname);
  if (ghe) return `https://token.actions.${ghe[1]}.ghe.com`;
  if (url.pathname.replace(/\/$/, '') === '/api/v3') return `${url.origin}/_services/token`;
  return undefined;
}

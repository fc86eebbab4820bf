/**
 * The console's settings from the environment. It is on when the GitHub App's OAuth client is
 * configured (`JITKEY_GITHUB_APP_CLIENT_ID`, `JITKEY_GITHUB_APP_CLIENT_SECRET`) unless
 * `--no-console`; it needs `JITKEY_PUBLIC_URL`, from which alone the OAuth callback URL is derived
 * (never from a request's Host header, which the caller controls).
 */
import { checkUrl } from '../net/url-rule.js';

export interface ConsoleConfig {
  clientId: string;
  clientSecret: string;
  /** `JITKEY_PUBLIC_URL`'s origin: what the browser's `Origin` header must say on a form post. */
  origin: string;
  /** `${origin}/console/auth/callback`, registered as the OAuth client's callback URL. */
  redirectUri: string;
  /** GitHub's web (not API) URL: the sign-in page and the links to runs and workflow files. */
  githubWebUrl: string;
}

export const CALLBACK_PATH = '/console/auth/callback';

type Env = Readonly<Record<string, string | undefined>>;

/** `https://github.com` for `https://api.github.com`, `https://HOST` for GHES's `https://HOST/api/v3`. */
export function githubWebUrl(apiUrl: string, env: Env = {}): string {
  const given = env.JITKEY_GITHUB_WEB_URL?.trim();
  if (given) {
    checkUrl(given, 'JITKEY_GITHUB_WEB_URL');
    return given.replace(/\/+$/, '');
  }
  const url = new URL(apiUrl);
  if (url.hostname === 'api.github.com') return 'https://github.com';
  return `${url.origin}${url.pathname.replace(/\/+$/, '').replace(/\/api\/v3$/, '')}`;
}

/** The console's configuration, or undefined when it is off; throws naming what to set when it is half set. */
export function consoleConfigFromEnv(
  env: Env,
  options: { disabled: boolean; apiUrl: string; hasApp: boolean },
): ConsoleConfig | undefined {
  const clientId = env.JITKEY_GITHUB_APP_CLIENT_ID?.trim();
  const clientSecret = env.JITKEY_GITHUB_APP_CLIENT_SECRET?.trim();
  if (options.disabled || (!clientId && !clientSecret)) return undefined;
  if (!clientId || !clientSecret) {
    throw new Error(
      "the console needs both JITKEY_GITHUB_APP_CLIENT_ID and JITKEY_GITHUB_APP_CLIENT_SECRET (the GitHub App's OAuth client), or --no-console",
    );
  }
  if (!options.hasApp) {
    throw new Error(
      "the console needs the GitHub App itself (JITKEY_GITHUB_APP_ID and JITKEY_GITHUB_APP_PRIVATE_KEY) to check approvers' teams, or --no-console",
    );
  }
  const publicUrl = env.JITKEY_PUBLIC_URL?.trim();
  if (!publicUrl) {
    throw new Error(
      `the console needs JITKEY_PUBLIC_URL (the exchanger's URL as browsers reach it): GitHub sends sign-ins back to \${JITKEY_PUBLIC_URL}${CALLBACK_PATH}`,
    );
  }
  checkUrl(publicUrl, 'JITKEY_PUBLIC_URL');
  const url = new URL(publicUrl);
  if (url.pathname.replace(/\/+$/, '') !== '' || url.search || url.hash) {
    throw new Error(
      `JITKEY_PUBLIC_URL must be an origin such as https://jitkey.example.com for the console (its cookies are __Host- cookies, bound to the whole host), got '${publicUrl}'`,
    );
  }
  return {
    clientId,
    clientSecret,
    origin: url.origin,
    redirectUri: `${url.origin}${CALLBACK_PATH}`,
    githubWebUrl: githubWebUrl(options.apiUrl, env),
  };
}

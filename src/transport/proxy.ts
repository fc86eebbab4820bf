/**
 * Which proxy, if any, a request goes through: `HTTPS_PROXY` for https targets, `HTTP_PROXY` for
 * http ones (lower-case names first), unless `NO_PROXY` matches the target or the target is a
 * loopback host. The rules are @actions/http-client's (proxy.ts), so jitkey takes the same route as
 * the runner's other actions: `*` matches everything; an entry matches the host, any subdomain of
 * it (`example.com` and `.example.com` both match `a.example.com`), or `host:port` exactly.
 * Pure: the environment is handed in.
 */
import { isLoopbackHost } from '../../exchanger/net/url-rule.js';
import { ActionError } from '../shared/errors.js';

/** Every variable proxyFor reads, for handing them to another process (the credentials agent). */
export const PROXY_VARIABLES = [
  'https_proxy',
  'HTTPS_PROXY',
  'http_proxy',
  'HTTP_PROXY',
  'no_proxy',
  'NO_PROXY',
] as const;

export function proxyVariables(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PROXY_VARIABLES) {
    const value = env[name];
    if (value) out[name] = value;
  }
  return out;
}

export interface ProxyRoute {
  /** `http://host:port` of the proxy: never its credentials, so it is safe in messages. */
  origin: string;
  hostname: string;
  port: number;
  /** `Basic …` from the proxy URL's user:password, for Proxy-Authorization. */
  authorization?: string;
  /** The variable it came from, for messages. */
  variable: string;
}

type Env = Readonly<Record<string, string | undefined>>;

export function proxyFor(target: URL, env: Env): ProxyRoute | undefined {
  if (bypassed(target, env)) return undefined;
  const names = target.protocol === 'https:' ? ['https_proxy', 'HTTPS_PROXY'] : ['http_proxy', 'HTTP_PROXY'];
  const variable = names.find((n) => env[n]);
  if (!variable) return undefined;
  return parseProxyUrl(env[variable]!, variable);
}

export function bypassed(target: URL, env: Env): boolean {
  if (!target.hostname) return false;
  if (isLoopbackHost(target.hostname)) return true;
  const noProxy = env.no_proxy || env.NO_PROXY || '';
  if (!noProxy) return false;
  const host = target.hostname.toUpperCase();
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  const candidates = [host, `${host}:${port}`];
  return noProxy
    .split(',')
    .map((entry) => entry.trim().toUpperCase())
    .filter(Boolean)
    .some(
      (entry) =>
        entry === '*' ||
        candidates.some(
          (c) => c === entry || c.endsWith(`.${entry}`) || (entry.startsWith('.') && c.endsWith(entry)),
        ),
    );
}

/** `http://user:pass@proxy:3128`, or `proxy:3128` without a scheme (taken as http, as curl does). */
export function parseProxyUrl(text: string, variable: string): ProxyRoute {
  let url: URL | undefined;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    url = undefined;
  }
  // Never quote the value: it may carry the proxy's password.
  if (!url?.hostname) {
    throw new ActionError(
      'invalid_input',
      `${variable} is not a proxy URL such as http://proxy.example.com:3128; fix or unset it`,
    );
  }
  if (url.protocol !== 'http:') {
    throw new ActionError(
      'invalid_input',
      `${variable} names a ${url.protocol.replace(/:$/, '')}:// proxy; jitkey speaks to proxies over plain http ` +
        '(https targets still go through it encrypted, by CONNECT): use http://host:port',
    );
  }
  const port = Number(url.port || 80);
  const route: ProxyRoute = { origin: `http://${url.host}`, hostname: url.hostname, port, variable };
  if (url.username || url.password) {
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    route.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  }
  return route;
}

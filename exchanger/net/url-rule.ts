/**
 * The one rule for every URL jitkey sends a request or a token to (issuers, JWKS, STS, IAM
 * Credentials, the GitHub API, approval webhooks, the exchanger itself from the Action):
 * `https://` anywhere, `http://` only on a loopback host (reference.md §1 and §3), so a typo
 * cannot send a bearer token across the network in the clear. Small and dependency-free on
 * purpose: the Action bundles it, so the exchanger and the Action cannot disagree.
 */

/** Why a URL is refused: stable codes that tests and callers match on, not the wording. */
export type UrlRefusalReason =
  | 'not_absolute'
  | 'not_https'
  | 'http_off_loopback'
  | 'credentials'
  | 'query_or_fragment';

export interface UrlRuleOptions {
  /** Refuse `http://` even on loopback (values that name public resources, e.g. OAuth scopes). */
  httpsOnly?: boolean;
  /** Refuse a user name or password in the URL (endpoints that receive a bearer token). */
  refuseCredentials?: boolean;
  /** Refuse a query or fragment (base URLs that paths are appended to). */
  refuseQuery?: boolean;
}

export class UrlRefusal extends Error {
  readonly reason: UrlRefusalReason;
  constructor(reason: UrlRefusalReason, message: string) {
    super(message);
    this.name = 'UrlRefusal';
    this.reason = reason;
  }
}

/**
 * Loopback hosts, the only ones where plain `http://` is accepted: 127.0.0.0/8, localhost and
 * ::1. `hostname` as `URL.hostname` gives it (IPv6 in brackets) or bare.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host === '::1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return m?.slice(1).every((octet) => Number(octet) <= 255) ?? false;
}

/** The URL as messages quote it: never with its password. */
function shown(raw: string, url?: URL): string {
  if (!url || (!url.username && !url.password)) return `'${raw}'`;
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return `'${copy.href}' (credentials removed)`;
}

/** Why `raw` may not be used, or undefined when it may. */
export function urlRefusal(raw: string, options: UrlRuleOptions = {}): UrlRefusal | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return new UrlRefusal('not_absolute', `${shown(raw)} is not an absolute URL`);
  }
  const it = shown(raw, url);
  if (options.refuseCredentials && (url.username || url.password)) {
    return new UrlRefusal('credentials', `${it} must not carry credentials (a user name or password)`);
  }
  if (url.protocol === 'http:' && !options.httpsOnly && !isLoopbackHost(url.hostname)) {
    return new UrlRefusal(
      'http_off_loopback',
      `${it} must use https (http is accepted only on loopback hosts: 127.0.0.0/8, localhost and [::1])`,
    );
  }
  if (url.protocol !== 'https:' && (url.protocol !== 'http:' || options.httpsOnly)) {
    return new UrlRefusal('not_https', `${it} must be an https URL`);
  }
  if (options.refuseQuery && (url.search || url.hash)) {
    return new UrlRefusal('query_or_fragment', `${it} must not carry a query or fragment`);
  }
  return undefined;
}

/**
 * The URL, parsed, when the rule accepts it; otherwise throws the `UrlRefusal`, its message
 * prefixed with `setting` (the input, variable or field to correct).
 */
export function checkUrl(raw: string, setting: string, options: UrlRuleOptions = {}): URL {
  const refusal = urlRefusal(raw, options);
  if (refusal) throw new UrlRefusal(refusal.reason, `${setting}: ${refusal.message}`);
  return new URL(raw);
}

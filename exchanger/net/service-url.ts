/**
 * Every URL the exchanger calls or fetches keys from (issuers, STS, IAM Credentials, the GitHub
 * API, approval webhooks): `https://` anywhere, `http://` only on a loopback host (SPEC sections
 * 1 and 3), so a typo cannot send a bearer token across the network in the clear.
 */

import { isLoopbackHost } from './url-rule.js';

export { isLoopbackHost };

/** Parses and checks an endpoint URL; `name` is the setting quoted in the error. Drops a trailing `/`. */
export function parseServiceUrl(raw: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (cause) {
    throw new Error(`${name}: '${raw}' is not a URL`, { cause });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`${name}: '${raw}' must be an https:// URL`);
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new Error(`${name}: '${raw}' uses http://, which is accepted only on loopback hosts; use https://`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new Error(`${name}: '${raw}' must not carry credentials, a query or a fragment`);
  }
  url.pathname = url.pathname.replace(/\/+$/, '');
  return url;
}

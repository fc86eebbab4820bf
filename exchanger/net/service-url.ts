/**
 * Every endpoint the exchanger calls with a bearer token or a signed request (the GitHub API,
 * IAM Credentials): the URL rule (`url-rule.ts`), with no credentials, query or fragment, since
 * paths are appended to it.
 */
import { checkUrl } from './url-rule.js';

/** Parses and checks an endpoint URL; `name` is the setting quoted in the error. Drops a trailing `/`. */
export function parseServiceUrl(raw: string, name: string): URL {
  const url = checkUrl(raw, name, { refuseCredentials: true, refuseQuery: true });
  url.pathname = url.pathname.replace(/\/+$/, '');
  return url;
}

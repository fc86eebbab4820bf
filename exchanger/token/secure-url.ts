/** `http://` is accepted only for loopback hosts (SPEC section 3); everything else must be https. */
import { isLoopbackHost } from '../net/service-url.js';

/** Why `raw` may not be used to fetch keys, or undefined when it may. */
export function insecureUrlReason(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'it is not an absolute URL';
  }
  if (url.username || url.password) return 'it carries credentials';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    return isLoopbackHost(url.hostname)
      ? undefined
      : 'http:// is accepted only on loopback hosts; use https://';
  }
  return `its scheme ${url.protocol} is not https:`;
}

/**
 * Which STS endpoints the exchanger accepts: `https://` anywhere, `http://` only on loopback
 * (127.0.0.0/8, localhost, [::1]) — for local stand-ins, never across a network.
 */
import { isLoopbackHost } from '../net/service-url.js';

/** Throws a plain Error (a configuration mistake, found at start-up) unless `url` is acceptable. */
export function assertStsEndpoint(url: string, source: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`${source}: '${url}' is not a URL`);
  }
  if (parsed.protocol === 'https:') return parsed;
  if (parsed.protocol === 'http:') {
    if (isLoopbackHost(parsed.hostname)) return parsed;
    throw new Error(
      `${source}: an http:// STS endpoint is accepted only on loopback (127.0.0.0/8, localhost, [::1]); ` +
        `use https:// for ${parsed.host}`,
    );
  }
  throw new Error(`${source}: unsupported protocol '${parsed.protocol}' (use https://)`);
}

/**
 * Which STS endpoints the exchanger accepts: `https://` anywhere, `http://` only on loopback
 * (127.0.0.0/8, localhost, [::1]) — for local stand-ins, never across a network.
 */

/** `hostname` as `URL.hostname` gives it (IPv6 in brackets). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  if (h === 'localhost' || h === '[::1]' || h === '::1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m?.slice(1).every((o) => Number(o) <= 255) ?? false;
}

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

/**
 * Loopback hosts, the only ones where plain `http://` is accepted (SPEC sections 1 and 3):
 * 127.0.0.0/8, localhost and ::1. `hostname` as `URL.hostname` gives it (IPv6 in brackets) or
 * bare. Shared by the exchanger and the Action, and small on purpose: the Action bundles it.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host === '::1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return m?.slice(1).every((octet) => Number(octet) <= 255) ?? false;
}

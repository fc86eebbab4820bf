/**
 * The console's cookies: `__Host-` prefixed, so the browser takes them only with `Secure`, `Path=/`
 * and no `Domain` (no sibling host can set or shadow them); `HttpOnly` (no script reads them);
 * `SameSite=Lax` (sent on top-level navigations, such as GitHub's redirect back, not on
 * cross-site POSTs). Chromium keeps `Secure` cookies of http://127.0.0.1 and localhost.
 */
import type { IncomingMessage } from 'node:http';

export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** A `Set-Cookie` value; `maxAgeSeconds` 0 deletes the cookie. Values are base64url only. */
export function hostCookie(name: string, value: string, maxAgeSeconds: number): string {
  if (!name.startsWith('__Host-') || !/^[A-Za-z0-9_.-]*$/.test(value)) {
    throw new Error(`cookie ${name} must be __Host- prefixed with a base64url value`);
  }
  return `${name}=${value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}`;
}

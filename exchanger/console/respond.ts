/**
 * How every console answer is sent: the security headers on each (CSP with no inline script or
 * style, no framing, no referrer, no MIME sniffing), pages never cached, redirects as 303.
 */
import type { ServerResponse } from 'node:http';
import type { Html } from './html.js';

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export function sendHtml(res: ServerResponse, status: number, page: Html, cookies: string[] = []): void {
  const body = page.text;
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...(cookies.length ? { 'set-cookie': cookies } : {}),
  });
  res.end(body);
}

/** `location` is always a path of ours or a URL this module's caller built (GitHub's authorize page). */
export function redirect(res: ServerResponse, location: string, cookies: string[] = []): void {
  res.writeHead(303, {
    ...SECURITY_HEADERS,
    location,
    'content-length': 0,
    'cache-control': 'no-store',
    ...(cookies.length ? { 'set-cookie': cookies } : {}),
  });
  res.end();
}

export function sendStatic(res: ServerResponse, contentType: string, body: string): void {
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'public, max-age=3600',
  });
  res.end(body);
}

/**
 * Form posts: the body (already held to the API's 16 KiB by the server) as URL-encoded fields,
 * and the two checks every console POST passes before anything else: it comes from a page of
 * this console (Origin, or Sec-Fetch-Site where Chromium sends `Origin: null` under
 * `Referrer-Policy: no-referrer`), and it carries this session's CSRF token.
 */
import type { IncomingMessage } from 'node:http';
import { invalidRequest, JitkeyError } from '../errors.js';
import { readBodyBytes } from '../server/http.js';
import { csrfMatches, type SignedIn } from './session.js';

export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = String(req.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw invalidRequest('the console takes its own forms only (application/x-www-form-urlencoded)');
  }
  return new URLSearchParams((await readBodyBytes(req)).toString('utf8'));
}

const forged = () =>
  new JitkeyError(
    'access_denied',
    'this form did not come from a page of this console, or it has expired: reload the page and try again',
  );

/** Refuses a POST sent from another site (a page elsewhere posting into the console). */
export function checkSameOrigin(req: IncomingMessage, origin: string): void {
  const site = req.headers['sec-fetch-site'];
  const from = req.headers.origin;
  if (site !== undefined && site !== 'same-origin') throw forged();
  if (from !== undefined && from !== 'null' && from !== origin) throw forged();
  // An `Origin: null` (no-referrer) or a browser sending neither header must at least say same-origin.
  if ((from === undefined || from === 'null') && site !== 'same-origin') throw forged();
}

export function checkCsrf(who: SignedIn, form: URLSearchParams): void {
  if (!csrfMatches(who.csrf, form.get('csrf'))) throw forged();
}

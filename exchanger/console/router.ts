/**
 * The console's page router, plugged into the server as extra routes (so every console request
 * is under the API's body, header, connection and in-flight limits). For each page it checks, in
 * order: a POST comes from this console's own pages (Origin / Sec-Fetch-Site), the session is
 * live, a POST carries the session's CSRF token; then the page runs. Refusals are HTML pages, and
 * a request this person may not see is the same 404 as one that does not exist.
 *
 * Later screens add a `ConsolePage` to the list `createConsole` builds.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { JitkeyError } from '../errors.js';
import type { Logger } from '../log.js';
import { checkCsrf, checkSameOrigin, readForm } from './form.js';
import { redirect, sendHtml } from './respond.js';
import type { Sessions, SignedIn } from './session.js';
import { errorPage, notFoundPage, signInPage } from './view-signin.js';

export interface PageRequest {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The path's groups, as the page's pattern captured them. */
  params: string[];
  /** Set for pages with `session: 'required'`; for 'optional' pages when there is one. */
  who: SignedIn | undefined;
  /** A POST's fields (after the origin and CSRF checks). */
  form: URLSearchParams | undefined;
}

export interface ConsolePage {
  method: 'GET' | 'POST';
  /** Matched against the whole path; its groups become `params`. */
  path: RegExp;
  session: 'required' | 'optional' | 'none';
  run(page: PageRequest): Promise<void> | void;
}

export type ExtraRoutes = (req: IncomingMessage, res: ServerResponse, requestId: string) => Promise<boolean>;

export function consoleRouter(
  pages: readonly ConsolePage[],
  deps: {
    sessions: Sessions;
    origin: string;
    log: Logger;
    /** Whether the person is a platform admin (for the navigation; each admin page checks again). */
    isAdmin?: (who: SignedIn) => Promise<boolean>;
  },
): ExtraRoutes {
  return async (req, res, requestId) => {
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    const path = url.pathname;
    if (path === '/console') {
      redirect(res, '/console/');
      return true;
    }
    if (!path.startsWith('/console/')) return false;
    let who: SignedIn | undefined;
    try {
      const matching = pages.filter((p) => p.path.test(path));
      const page = matching.find((p) => p.method === req.method);
      if (!page) {
        if (matching.length) throw new JitkeyError('invalid_request', `${req.method} is not answered here`);
        throw new JitkeyError('not_found', 'no such page');
      }
      let form: URLSearchParams | undefined;
      if (page.method === 'POST') {
        checkSameOrigin(req, deps.origin);
        form = await readForm(req);
      }
      if (page.session !== 'none') who = await deps.sessions.read(req);
      if (who && deps.isAdmin) who.admin = await deps.isAdmin(who).catch(() => false);
      if (page.session === 'required' && !who) {
        const next = page.method === 'GET' ? `${path}${url.search}` : undefined;
        const error = page.method === 'POST' ? 'Your session has ended: sign in again.' : undefined;
        sendHtml(res, 401, signInPage({ next, ...(error ? { error } : {}) }));
        return true;
      }
      if (form && who) checkCsrf(who, form);
      const params = (page.path.exec(path) ?? []).slice(1);
      await page.run({ req, res, url, params, who, form });
    } catch (err) {
      if (res.headersSent) throw err;
      if (!req.complete) res.setHeader('connection', 'close');
      const e = err instanceof JitkeyError ? err : undefined;
      if (e?.code === 'not_found') sendHtml(res, 404, notFoundPage(who));
      else if (e && e.status < 500) {
        deps.log.info('console request refused', {
          request_id: requestId,
          path,
          code: e.code,
          reason: e.message,
        });
        if (e.retryAfter !== undefined) res.setHeader('retry-after', String(e.retryAfter));
        sendHtml(res, e.status, errorPage({ title: 'Refused', message: e.message }, who));
      } else {
        deps.log.error('console request failed', { request_id: requestId, path, error: err as Error });
        const message = e
          ? e.message
          : `Something went wrong on our side (request ${requestId}); the operators have the details.`;
        sendHtml(res, e?.status ?? 500, errorPage({ title: 'Error', message }, who));
      }
    }
    return true;
  };
}

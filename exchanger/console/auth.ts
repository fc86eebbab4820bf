/**
 * Sign-in and sign-out:
 *
 *   GET  /console/auth/login?next=…   a pre-login cookie holds `state`, the PKCE verifier and
 *                                     where to go after; then 303 to GitHub's authorize page
 *   GET  /console/auth/callback       `state` must equal the cookie's and is spent once (store);
 *                                     the code is exchanged with the secret and the verifier;
 *                                     `GET /user` names the person; the session starts
 *   POST /console/auth/logout         (CSRF-checked by the router) deletes the session
 *
 * Sign-in is a GET link, not a form: a form whose POST redirects to github.com would be blocked
 * by `form-action 'self'`. Attempts are limited per client address. The user's GitHub token
 * never leaves `callback`: it is not stored, logged or put in a page or URL. The pre-login cookie
 * carries a MAC under a key derived from the OAuth client secret (which every instance holds), so
 * a callback with a cookie this exchanger did not set costs no store write and no GitHub call.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { callerBudget } from '../approvals/caller-budget.js';
import { hashSecret, secretMatches } from '../digest.js';
import type { GithubApp } from '../github/app.js';
import type { Logger } from '../log.js';
import { clientAddress } from '../net/client-address.js';
import { limitKey } from '../net/ip.js';
import type { Store } from '../store/types.js';
import type { ConsoleConfig } from './config.js';
import { hostCookie, readCookie } from './cookies.js';
import { exchangeCode, startSignIn } from './oauth.js';
import { redirect, sendHtml } from './respond.js';
import type { Sessions, SignedIn } from './session.js';
import { signInPage } from './view-signin.js';

export const LOGIN_COOKIE = '__Host-jitkey_login';
/** How long GitHub's page may stay open before the sign-in must start again. */
const LOGIN_TTL_S = 10 * 60;
/**
 * Sign-ins started per client address per minute. A callback needs a started sign-in's cookie
 * (with its MAC) and state before it costs a store write or a GitHub call, so starts are what is
 * counted.
 */
export const SIGN_INS_PER_MINUTE = 20;
/** `store.consumeJti`'s issuer for spent sign-in states: apart from every token issuer's jtis. */
const STATE_ISSUER = 'jitkey:console-sign-in';

export interface AuthDeps {
  config: ConsoleConfig;
  sessions: Sessions;
  store: Pick<Store, 'consumeJti'>;
  github: Pick<GithubApp, 'getUser'>;
  fetch: typeof globalThis.fetch;
  log: Logger;
  now: () => Date;
  /** The sign-in budget; with workers, the primary's, for the whole server (default: this process's). */
  signInBudget?: (peer: string) => void | Promise<void>;
}

/** A `next` that stays inside the console: a path under /console/, never another host. */
export function safeNext(next: string | null | undefined): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (!next?.startsWith('/console/') || /[\\\u0000-\u001f\u007f]/.test(next)) return '/console/';
  const url = new URL(next, 'http://console.invalid');
  if (url.origin !== 'http://console.invalid' || !url.pathname.startsWith('/console/')) return '/console/';
  // Not back into the sign-in itself.
  if (url.pathname.startsWith('/console/auth/')) return '/console/';
  return `${url.pathname}${url.search}`;
}

export function authRoutes(deps: AuthDeps) {
  const spend =
    deps.signInBudget ??
    callerBudget({ now: deps.now, perMinute: SIGN_INS_PER_MINUTE, what: 'sign-in attempts' });
  const clearLogin = hostCookie(LOGIN_COOKIE, '', 0);
  const key = Buffer.from(
    hkdfSync('sha256', deps.config.clientSecret, '', 'jitkey console sign-in cookie', 32),
  );
  const mac = (text: string) => createHmac('sha256', key).update(text).digest('base64url');
  /** The cookie's parts when its MAC is ours; else none (a cookie someone made up). */
  const loginCookie = (req: IncomingMessage): string[] => {
    const value = readCookie(req, LOGIN_COOKIE) ?? '';
    const at = value.lastIndexOf('.');
    const body = value.slice(0, Math.max(at, 0));
    const given = Buffer.from(value.slice(at + 1));
    const want = Buffer.from(mac(body));
    return at > 0 && given.length === want.length && timingSafeEqual(given, want) ? body.split('.') : [];
  };

  const refuse = (res: ServerResponse, status: number, message: string, next?: string) =>
    sendHtml(res, status, signInPage({ next, error: message }), [clearLogin]);

  return {
    async login(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
      // Awaited: with workers the budget is the primary's and answers asynchronously. Keyed as
      // every per-address limit is (an IPv6 client by its /64).
      await spend(limitKey(clientAddress(req)));
      const next = safeNext(url.searchParams.get('next'));
      const start = startSignIn(deps.config);
      const value = `${start.state}.${start.verifier}.${Buffer.from(next).toString('base64url')}`;
      redirect(res, start.url, [hostCookie(LOGIN_COOKIE, `${value}.${mac(value)}`, LOGIN_TTL_S)]);
    },

    async callback(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
      const [state = '', verifier = '', nextB64 = ''] = loginCookie(req);
      const next = safeNext(Buffer.from(nextB64, 'base64url').toString('utf8'));
      if (url.searchParams.get('error')) {
        return refuse(
          res,
          400,
          'GitHub did not sign you in (the authorization was cancelled or refused).',
          next,
        );
      }
      const givenState = url.searchParams.get('state') ?? '';
      const code = url.searchParams.get('code') ?? '';
      // The state GitHub hands back must be the one this browser's cookie holds: a callback
      // link crafted by someone else (login CSRF) carries their state, not ours.
      if (!state || !verifier || !givenState || !secretMatches(givenState, hashSecret(state)) || !code) {
        return refuse(
          res,
          400,
          'This sign-in did not start in this browser, or took too long: sign in again.',
          next,
        );
      }
      // Single use, across instances: a replayed callback finds its state spent.
      const fresh = await deps.store.consumeJti(
        hashSecret(state),
        new Date(deps.now().getTime() + LOGIN_TTL_S * 1000),
        STATE_ISSUER,
      );
      if (!fresh) return refuse(res, 400, 'This sign-in was already used: sign in again.', next);
      const token = await exchangeCode(deps.config, deps.fetch, code, verifier);
      const user = await deps.github.getUser(token);
      // A session this browser already had ends: one sign-in, one session.
      const before = await deps.sessions.read(req);
      if (before) await deps.sessions.end(before);
      const cookie = await deps.sessions.start({ login: user.login, id: String(user.id) });
      deps.log.info('console sign-in', { login: user.login, user_id: user.id });
      redirect(res, next, [clearLogin, cookie]);
    },

    async logout(res: ServerResponse, who: SignedIn): Promise<void> {
      const cleared = await deps.sessions.end(who);
      deps.log.info('console sign-out', { login: who.login });
      sendHtml(res, 200, signInPage({ info: 'You are signed out.' }), [cleared]);
    },
  };
}

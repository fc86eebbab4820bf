/**
 * The console (`/console/`): sign-in with GitHub, my queue, one request with its decision forms,
 * and the stylesheet. `createConsole` wires them into the router; `jitkey serve` mounts the
 * result as extra routes of the API server when the console is configured (`config.ts`).
 */
import type { Approvals } from '../approvals/service.js';
import type { GithubApp } from '../github/app.js';
import type { Logger } from '../log.js';
import type { Policy } from '../policy/model/types.js';
import type { Store } from '../store/types.js';
import { type AdminDeps, adminPages } from './admin-pages.js';
import { authRoutes } from './auth.js';
import type { ConsoleConfig } from './config.js';
import { approverPages } from './pages.js';
import { sendStatic } from './respond.js';
import { type ConsolePage, consoleRouter, type ExtraRoutes } from './router.js';
import { createSessions } from './session.js';
import { CONSOLE_CSS } from './static.js';

export interface ConsoleDeps {
  config: ConsoleConfig;
  approvals: Pick<Approvals, 'queuePageAs' | 'detailAs' | 'decideAs'>;
  store: Pick<Store, 'consumeJti' | 'createSession' | 'getSession' | 'extendSession' | 'deleteSession'>;
  github: Pick<GithubApp, 'getUser'>;
  policy: () => Policy;
  log: Logger;
  now: () => Date;
  fetch?: typeof globalThis.fetch;
  /** The sign-in budget; with workers, the primary's (default: this process's own). */
  signInBudget?: (peer: string) => void | Promise<void>;
  /**
   * The approver-call budget decisions spend, shared with the API's (`callerBudget`); with
   * workers, the primary's (default: this process's own).
   */
  decisionBudget?: (peer: string) => void | Promise<void>;
  /** The platform admins' screens (leases, audit, policy): what they need beyond the above. */
  admin?: Omit<AdminDeps, 'policy' | 'log' | 'now'>;
}

const ID = '([A-Za-z0-9_-]{1,64})';

export function createConsole(deps: ConsoleDeps, more: readonly ConsolePage[] = []): ExtraRoutes {
  const sessions = createSessions(deps.store, deps.now);
  const auth = authRoutes({
    config: deps.config,
    sessions,
    store: deps.store,
    github: deps.github,
    fetch: deps.fetch ?? globalThis.fetch,
    log: deps.log,
    now: deps.now,
    ...(deps.signInBudget ? { signInBudget: deps.signInBudget } : {}),
  });
  const approver = approverPages(deps);
  const admin =
    deps.admin && adminPages({ ...deps.admin, policy: deps.policy, log: deps.log, now: deps.now });
  const pages: ConsolePage[] = [
    {
      method: 'GET',
      path: /^\/console\/static\/console\.css$/,
      session: 'none',
      run: ({ res }) => sendStatic(res, 'text/css; charset=utf-8', CONSOLE_CSS),
    },
    {
      method: 'GET',
      path: /^\/console\/auth\/login$/,
      session: 'none',
      run: (p) => auth.login(p.req, p.res, p.url),
    },
    {
      method: 'GET',
      path: /^\/console\/auth\/callback$/,
      session: 'none',
      run: (p) => auth.callback(p.req, p.res, p.url),
    },
    {
      method: 'POST',
      path: /^\/console\/auth\/logout$/,
      session: 'required',
      run: (p) => auth.logout(p.res, p.who!),
    },
    { method: 'GET', path: /^\/console\/$/, session: 'required', run: (p) => approver.queue(p.res, p.who!) },
    {
      method: 'GET',
      path: new RegExp(`^/console/requests/${ID}$`),
      session: 'required',
      run: (p) => approver.request(p.res, p.who!, p.params[0]!, p.url),
    },
    {
      method: 'POST',
      path: new RegExp(`^/console/requests/${ID}/(approve|deny)$`),
      session: 'required',
      run: (p) =>
        approver.decide(p.req, p.res, p.who!, p.params[0]!, p.params[1] as 'approve' | 'deny', p.form!),
    },
    ...(admin?.pages ?? []),
    ...more,
  ];
  return consoleRouter(pages, {
    sessions,
    origin: deps.config.origin,
    log: deps.log,
    ...(admin ? { isAdmin: admin.isAdmin } : {}),
  });
}

/**
 * The page frame every console screen shares: one stylesheet from /console/static/, no inline
 * script or style, a skip link, the signed-in person and a sign-out form carrying the CSRF token.
 * Later screens (leases, audit, policy) add their entry to `NAV`.
 */
import { type Html, html } from './html.js';
import type { SignedIn } from './session.js';

export const STYLESHEET = '/console/static/console.css';

/** The console's sections, in the header's order: `[path, label]`, `'admin'` for admins' screens only. */
export const NAV: Array<readonly [string, string, 'admin'?]> = [
  ['/console/', 'My queue'],
  ['/console/leases', 'Leases', 'admin'],
  ['/console/audit', 'Audit'],
  ['/console/policy', 'Policy', 'admin'],
];

export interface LayoutOptions {
  title: string;
  who?: SignedIn | undefined;
  /** The path of the current section, marked in the navigation. */
  section?: string;
}

export function layout({ title, who, section }: LayoutOptions, main: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · jitkey</title>
<link rel="stylesheet" href="${STYLESHEET}">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="/console/">jitkey</a>
${who ? nav(section, who.admin === true) : ''}
${who ? signOut(who) : ''}
</header>
<main id="main">
${main}
</main>
</body>
</html>
`;
}

function nav(section: string | undefined, admin: boolean): Html {
  return html`<nav aria-label="Console"><ul>${NAV.filter(([, , only]) => admin || only !== 'admin').map(
    ([path, label]) =>
      html`<li><a href="${path}"${path === section ? html` aria-current="page"` : ''}>${label}</a></li>`,
  )}</ul></nav>`;
}

function signOut(who: SignedIn): Html {
  return html`<form class="signout" method="post" action="/console/auth/logout">
<input type="hidden" name="csrf" value="${who.csrf}">
<span class="who">${who.login}</span>
<button type="submit">Sign out</button>
</form>`;
}

/** A notice above a page's content: `error` for a refusal, `ok` for a decision taken. */
export function notice(kind: 'error' | 'ok', text: string): Html {
  return html`<p class="notice ${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${text}</p>`;
}

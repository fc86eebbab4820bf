/** The sign-in page, and the pages that say why something was refused. */
import { type Html, html } from './html.js';
import { layout, notice } from './view-layout.js';

/** The "Sign in with GitHub" link is a GET, so no form's redirect to github.com meets `form-action 'self'`. */
export function signInPage(options: { next?: string | undefined; error?: string; info?: string }): Html {
  const target =
    options.next && options.next !== '/console/' ? `?${new URLSearchParams({ next: options.next })}` : '';
  return layout(
    { title: 'Sign in' },
    html`<h1>Sign in</h1>
${options.error ? notice('error', options.error) : ''}
${options.info ? notice('ok', options.info) : ''}
<p>Approvers and platform teams sign in with their GitHub account. jitkey asks GitHub who you are
and keeps nothing else of it: your GitHub token is not stored.</p>
<p><a class="button primary" href="/console/auth/login${target}">Sign in with GitHub</a></p>`,
  );
}

export function errorPage(
  options: { title: string; message: string },
  who?: Parameters<typeof layout>[0]['who'],
): Html {
  return layout(
    { title: options.title, who },
    html`<h1>${options.title}</h1>
${notice('error', options.message)}
<p><a href="/console/">Back to my queue</a></p>`,
  );
}

/** The one answer for an unknown request and for one this person may not decide: nothing tells them apart. */
export function notFoundPage(who?: Parameters<typeof layout>[0]['who']): Html {
  return errorPage({ title: 'Not found', message: 'No such request, or not one you may decide.' }, who);
}

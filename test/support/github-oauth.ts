/**
 * GitHub's OAuth web flow for a GitHub App's client, as the GitHub stand-in plays it
 * (`github-standin.ts` routes `/login/oauth/*` here):
 *
 * - `GET /login/oauth/authorize?client_id&redirect_uri&state&code_challenge&code_challenge_method`:
 *   an HTML page with a "login" field (who is signed in to this GitHub) and an "Authorize" button;
 *   an unknown client, a `redirect_uri` other than the registered callback or a challenge method
 *   other than S256 is refused there, as GitHub does.
 * - `POST /login/oauth/authorize` (that form): 302 to `redirect_uri?code=…&state=…`.
 * - `POST /login/oauth/access_token` (form or JSON body): checks `client_id` and `client_secret`
 *   (`incorrect_client_credentials`), the code (single use, 10 minutes, this client's:
 *   `bad_verification_code`), `redirect_uri` equal to the authorize step's
 *   (`redirect_uri_mismatch`), and the PKCE `code_verifier` against the challenge. Errors are
 *   200 with `{error, error_description}`, as GitHub answers. A good code gets a `ghu_` user token
 *   that the stand-in's `GET /user` then answers for.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface OAuthClient {
  clientId: string;
  clientSecret: string;
  /** The callback URL registered for the client; `redirect_uri` must equal it. */
  callbackUrl: string;
}

export interface OAuthExchange {
  /** The error answered, or 'ok'. */
  outcome: string;
  login?: string;
}

export interface GithubOAuth {
  client: OAuthClient;
  /** Every token exchange, in order. */
  exchanges: OAuthExchange[];
  /** The user tokens handed out: login → tokens. */
  tokens: Map<string, string[]>;
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean;
}

interface Code {
  login: string;
  clientId: string;
  redirectUri: string;
  challenge: string;
  expiresAt: number;
  used: boolean;
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

async function readBody(req: IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (String(req.headers['content-type'] ?? '').includes('json')) {
    return text ? (JSON.parse(text) as Record<string, string>) : {};
  }
  return Object.fromEntries(new URLSearchParams(text));
}

export function githubOAuth(options: {
  client: OAuthClient;
  /** Known users by login (the stand-in's users). */
  user(login: string): { login: string; id: number } | undefined;
  /** Makes `token` a user token the stand-in's `GET /user` answers for. */
  addUserToken(token: string, user: { login: string; id: number }): void;
  now: () => Date;
}): GithubOAuth {
  const codes = new Map<string, Code>();
  const exchanges: OAuthExchange[] = [];
  const tokens = new Map<string, string[]>();

  const page = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
    res.end(
      `<!doctype html><html lang="en"><head><title>Authorize · GitHub stand-in</title></head><body>${body}</body></html>`,
    );
  };

  /** The authorize step's own checks; undefined when the request is fine. */
  const authorizeProblem = (q: URLSearchParams): string | undefined => {
    if (q.get('client_id') !== options.client.clientId) return 'unknown client_id';
    if (q.get('redirect_uri') !== options.client.callbackUrl)
      return 'The redirect_uri is not associated with this application.';
    if (!q.get('state')) return 'state missing';
    if (q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge'))
      return 'code_challenge with code_challenge_method S256 is required';
    return undefined;
  };

  const authorizePage = (res: ServerResponse, q: URLSearchParams) => {
    const problem = authorizeProblem(q);
    if (problem) return page(res, 400, `<h1>Error</h1><p>${esc(problem)}</p>`);
    const hidden = [...q.entries()]
      .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
      .join('');
    page(
      res,
      200,
      `<main><h1>Authorize jitkey</h1><form method="post" action="/login/oauth/authorize">${hidden}
<label for="login">Signed in to GitHub as</label> <input id="login" name="login" value="">
<button type="submit">Authorize</button></form></main>`,
    );
  };

  const authorize = async (req: IncomingMessage, res: ServerResponse) => {
    const body = new URLSearchParams(await readBody(req));
    const problem = authorizeProblem(body);
    const user = options.user(body.get('login') ?? '');
    if (problem || !user) return page(res, 400, `<h1>Error</h1><p>${esc(problem ?? 'no such user')}</p>`);
    const code = randomBytes(10).toString('hex');
    codes.set(code, {
      login: user.login,
      clientId: body.get('client_id')!,
      redirectUri: body.get('redirect_uri')!,
      challenge: body.get('code_challenge')!,
      expiresAt: options.now().getTime() + 10 * 60_000,
      used: false,
    });
    const to = new URL(body.get('redirect_uri')!);
    to.searchParams.set('code', code);
    to.searchParams.set('state', body.get('state')!);
    res.writeHead(302, { location: to.toString() });
    res.end();
  };

  const accessToken = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const answer = (json: Record<string, string>, login?: string) => {
      exchanges.push({ outcome: json.error ?? 'ok', ...(login ? { login } : {}) });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(json));
    };
    const fail = (error: string, description: string) =>
      answer({ error, error_description: description, error_uri: 'https://docs.github.com' });
    if (body.client_id !== options.client.clientId || body.client_secret !== options.client.clientSecret) {
      return fail('incorrect_client_credentials', 'The client_id and/or client_secret passed are incorrect.');
    }
    const code = codes.get(body.code ?? '');
    if (!code || code.used || code.clientId !== body.client_id || code.expiresAt <= options.now().getTime()) {
      return fail('bad_verification_code', 'The code passed is incorrect or expired.');
    }
    code.used = true;
    if (body.redirect_uri !== undefined && body.redirect_uri !== code.redirectUri) {
      return fail(
        'redirect_uri_mismatch',
        'The redirect_uri MUST match the registered callback URL for this application.',
      );
    }
    const computed = createHash('sha256')
      .update(body.code_verifier ?? '')
      .digest('base64url');
    if (!body.code_verifier || computed !== code.challenge) {
      return fail('bad_verification_code', 'The code_verifier does not match the code_challenge.');
    }
    const user = options.user(code.login)!;
    const token = `ghu_${randomBytes(18).toString('hex')}`;
    options.addUserToken(token, user);
    tokens.set(user.login, [...(tokens.get(user.login) ?? []), token]);
    answer({ access_token: token, token_type: 'bearer', scope: '' }, user.login);
  };

  return {
    client: options.client,
    exchanges,
    tokens,
    handle(req, res, path) {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (req.method === 'GET' && path === '/login/oauth/authorize') {
        authorizePage(res, url.searchParams);
        return true;
      }
      if (req.method === 'POST' && path === '/login/oauth/authorize') {
        void authorize(req, res);
        return true;
      }
      if (req.method === 'POST' && path === '/login/oauth/access_token') {
        void accessToken(req, res);
        return true;
      }
      return false;
    },
  };
}

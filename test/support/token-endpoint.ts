/**
 * A loopback stand-in for the runner's OIDC token request endpoint, the one a job reaches through
 * `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN` (`permissions: id-token: write`).
 * Like the runner's, it wants the request token as bearer and the `audience` query parameter, and
 * answers `{"value": <token>}`; the token comes from a callback (usually `idp.mint()`).
 *
 *   const idp = await startOidcIssuer();
 *   const te = await startTokenEndpoint({ token: (audience) => idp.mint({ aud: audience }) });
 *   spawn(…, { env: { ...te.env, … } });
 *   te.requests;  // [{ audience, authorized }]
 *   te.failNext(2, 503);
 *   await te.stop();
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TokenEndpointOptions {
  /** Mints the token for one request; gets the requested audience. */
  token: (audience: string) => string | Promise<string>;
  /** The bearer the endpoint expects; default a random value. */
  requestToken?: string;
}

export interface TokenRequest {
  audience: string | null;
  authorized: boolean;
  status: number;
}

export interface TokenEndpoint {
  /** `ACTIONS_ID_TOKEN_REQUEST_URL`: like the runner's, it already carries a query (`api-version`). */
  url: string;
  requestToken: string;
  /** Both variables, to spread into a step's environment. */
  env: { ACTIONS_ID_TOKEN_REQUEST_URL: string; ACTIONS_ID_TOKEN_REQUEST_TOKEN: string };
  requests: TokenRequest[];
  /** Tokens handed out, in order. */
  issued: string[];
  /** The next `count` requests answer `status` (after the bearer check). */
  failNext(count: number, status?: number): void;
  stop(): Promise<void>;
}

export async function startTokenEndpoint(options: TokenEndpointOptions): Promise<TokenEndpoint> {
  const requestToken = options.requestToken ?? randomBytes(24).toString('base64url');
  const requests: TokenRequest[] = [];
  const issued: string[] = [];
  let failures = 0;
  let failStatus = 503;

  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      const record: TokenRequest = { audience, authorized, status };
      requests.push(record);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'http://localhost');
    const audience = url.searchParams.get('audience');
    const authorized = req.headers.authorization === `Bearer ${requestToken}`;
    if (req.method !== 'GET' || url.pathname !== '/token') return send(404, { message: 'not found' });
    if (!authorized) return send(401, { message: 'bad or missing bearer' });
    if (url.searchParams.get('api-version') !== '2.0') return send(400, { message: 'api-version missing' });
    if (!audience) return send(400, { message: 'audience missing' });
    if (failures > 0) {
      failures--;
      return send(failStatus, { message: 'made to fail' });
    }
    Promise.resolve(options.token(audience)).then(
      (value) => {
        issued.push(value);
        send(200, { value });
      },
      (e: unknown) => send(500, { message: e instanceof Error ? e.message : String(e) }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/token?api-version=2.0`;
  return {
    url,
    requestToken,
    env: { ACTIONS_ID_TOKEN_REQUEST_URL: url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken },
    requests,
    issued,
    failNext(count, status = 503) {
      failures = count;
      failStatus = status;
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

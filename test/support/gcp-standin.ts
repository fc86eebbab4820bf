/**
 * A local Google stand-in on 127.0.0.1 (random port): an OAuth 2.0 token endpoint for the JWT-bearer
 * grant and the IAM Credentials REST surface, closely enough for google-auth-library and
 * `@google-cloud/iam-credentials` (REST transport). For tests, the demo and benchmarks.
 *
 *   const gcp = await startGcpStandin();                     // { extendedLifetime?, serviceAccounts?, now? }
 *   const key = await gcp.writeServiceAccountKey();         // fresh RSA key, file in a temp dir, token_uri = gcp.tokenUri
 *   process.env.GOOGLE_APPLICATION_CREDENTIALS = key.path;   // the exchanger's ADC
 *   const provider = createGcpProvider({ endpoint: gcp.url });
 *   …
 *   gcp.requests        // every request: { endpoint, method, path, resource?, body?, auth, status, error? }
 *   gcp.issued          // every access token generateAccessToken handed out, with what it was asked
 *   gcp.assertions      // every JWT-bearer assertion the token endpoint verified (iss, scope, aud)
 *   gcp.setFailures(n, 'UNAVAILABLE' | 'PERMISSION_DENIED' | 'RESOURCE_EXHAUSTED' | 'INTERNAL')
 *                       // the next n generateAccessToken calls fail with that status (Google's JSON error)
 *   gcp.denyServiceAccount(email)   // generateAccessToken on it → 403 PERMISSION_DENIED
 *   gcp.allowExtendedLifetime(email) // lifetimes up to 12 h for it (the org-policy constraint)
 *   gcp.tokenInfo(accessToken)       // what a token minted here was for, while valid (end-to-end checks)
 *   gcp.useToken(accessToken, call)  // a call made with it, as Cloud Audit Logs record it (`gcp-audit-log.ts`)
 *   gcp.logging                      // Cloud Logging `POST /v2/entries:list` over those records
 *   await gcp.stop()
 *
 * Callers authenticate to IAM Credentials with either
 * - an access token from this token endpoint (`POST /token`, grant_type
 *   urn:ietf:params:oauth:grant-type:jwt-bearer, the assertion signed RS256 by a key written by
 *   `writeServiceAccountKey`, `aud` = the token URI or Google's https://oauth2.googleapis.com/token), or
 * - a self-signed service-account JWT, which is what google-auth-library sends for a key file when the
 *   IAM client asks for it (`iss` = `sub` = the key's client_email, `kid` = its private_key_id, and a
 *   `scope` claim or an `aud` of the IAM service) — google-auth-library 10 ignores a key file's
 *   `token_uri`, so with a key file the token endpoint is only reached by clients that send there.
 * Both are verified with the key's public half (jose); anything else → 401 UNAUTHENTICATED.
 *
 * generateAccessToken checks like Google: `name` = projects/-/serviceAccounts/EMAIL (the `-` is
 * required), at least one scope, delegates in the same resource form, lifetime ("600s") > 0 and ≤ 3600 s,
 * or ≤ 43 200 s for accounts given to `allowExtendedLifetime` (else 400 INVALID_ARGUMENT), an account
 * known when `serviceAccounts` is given (else 404 NOT_FOUND). It answers `{accessToken, expireTime}`
 * with expireTime = now + lifetime (`now` injectable; JWT validity uses the real clock, since
 * google-auth-library signs with it). Test-only: never import this from `exchanger/`.
 */
import { generateKeyPair, type KeyObject, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { type GcpAuditLog, gcpAuditLog, type LoggedCall, LoggingError } from './gcp-audit-log.js';

export type GcpFailure = 'UNAVAILABLE' | 'PERMISSION_DENIED' | 'RESOURCE_EXHAUSTED' | 'INTERNAL';

export interface GcpStandinOptions {
  /** Accounts that may get lifetimes over 1 h (the org-policy constraint), or `true` for all. */
  extendedLifetime?: boolean | string[];
  /** When given, generateAccessToken for any other account → 404 NOT_FOUND. */
  serviceAccounts?: string[];
  /** For expireTime (not for JWT checks). */
  now?: () => Date;
  /** entries.list answers at most this many entries a page (default 1000). */
  loggingPageSize?: number;
}

export interface GcpCaller {
  kind: 'oauth_token' | 'self_signed_jwt';
  /** The service account the bearer belongs to. */
  email: string;
  scope?: string;
  aud?: string;
}

export interface GcpRecordedRequest {
  endpoint: 'token' | 'generateAccessToken' | 'entries.list' | 'other';
  method: string;
  path: string;
  /** generateAccessToken's `name`. */
  resource?: string;
  body?: unknown;
  auth?: GcpCaller | { kind: 'none' | 'invalid'; reason: string };
  status: number;
  error?: string;
}

export interface GcpIssuedToken {
  accessToken: string;
  serviceAccount: string;
  scope: string[];
  delegates: string[];
  lifetimeSeconds: number;
  expireTime: string;
  caller: GcpCaller;
}

export interface GcpAssertion {
  iss: string;
  scope?: string;
  aud: string;
  kid?: string;
}

export interface ServiceAccountKey {
  path: string;
  email: string;
  keyId: string;
  /** The key file's JSON, as written. */
  json: Record<string, string>;
}

export interface GcpStandin {
  /** `http://127.0.0.1:PORT`: the IAM Credentials endpoint (`JITKEY_GCP_IAM_ENDPOINT`). */
  url: string;
  tokenUri: string;
  requests: GcpRecordedRequest[];
  issued: GcpIssuedToken[];
  assertions: GcpAssertion[];
  writeServiceAccountKey(options?: {
    email?: string;
    projectId?: string;
    dir?: string;
  }): Promise<ServiceAccountKey>;
  setFailures(n: number, failure: GcpFailure): void;
  denyServiceAccount(email: string): void;
  allowExtendedLifetime(email: string): void;
  tokenInfo(accessToken: string): GcpIssuedToken | undefined;
  /** Records a call made with a live token minted here, as Google's audit log has it. */
  useToken(accessToken: string, call: LoggedCall): void;
  logging: GcpAuditLog;
  stop(): Promise<void>;
}

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const IAM_AUDIENCES = ['https://iamcredentials.googleapis.com/', 'https://iamcredentials.googleapis.com'];
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const RESOURCE = /^projects\/([^/]+)\/serviceAccounts\/([^/]+)$/;
const HTTP_OF: Record<GcpFailure | 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'UNAUTHENTICATED', number> = {
  UNAVAILABLE: 503,
  PERMISSION_DENIED: 403,
  RESOURCE_EXHAUSTED: 429,
  INTERNAL: 500,
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  UNAUTHENTICATED: 401,
};

const generateKeyPairAsync = promisify(generateKeyPair);

class GoogleApiError extends Error {
  constructor(
    readonly status: keyof typeof HTTP_OF,
    message: string,
  ) {
    super(message);
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new GoogleApiError('INVALID_ARGUMENT', 'request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

/** proto3 JSON Duration: "600s", "1.5s". */
function durationSeconds(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(-?\d+(?:\.\d{1,9})?)s$/.exec(value);
  return m ? Number(m[1]) : undefined;
}

export async function startGcpStandin(options: GcpStandinOptions = {}): Promise<GcpStandin> {
  const now = options.now ?? (() => new Date());
  const keys = new Map<string, { email: string; publicKey: KeyObject }>();
  const oauthTokens = new Map<string, { email: string; scope: string; expiresAt: number }>();
  const denied = new Set<string>();
  const extended = new Set(
    (Array.isArray(options.extendedLifetime) ? options.extendedLifetime : []).map(lower),
  );
  const known = options.serviceAccounts ? new Set(options.serviceAccounts.map(lower)) : undefined;
  const failures: { n: number; failure: GcpFailure } = { n: 0, failure: 'UNAVAILABLE' };
  const requests: GcpRecordedRequest[] = [];
  const issued: GcpIssuedToken[] = [];
  const assertions: GcpAssertion[] = [];
  const tempDirs: string[] = [];
  const logging = gcpAuditLog({ pageSize: options.loggingPageSize });
  let base = '';

  function lower(s: string): string {
    return s.toLowerCase();
  }

  /** Verifies a JWT signed by one of the written keys; returns its payload and key. */
  async function verifyKeyJwt(jwt: string) {
    const header = decodeProtectedHeader(jwt);
    if (header.alg !== 'RS256') throw new Error(`alg ${String(header.alg)} is not RS256`);
    // Like Google: the key by `kid` when given (self-signed JWTs), else the issuer's keys (the JWT-bearer grant).
    const iss = decodeJwt(jwt).iss;
    const candidates =
      typeof header.kid === 'string'
        ? [...keys].filter(([kid]) => kid === header.kid)
        : [...keys].filter(([, k]) => k.email === iss);
    if (candidates.length === 0) throw new Error('unknown key');
    let lastError: unknown;
    for (const [kid, key] of candidates) {
      try {
        const { payload } = await jwtVerify(jwt, key.publicKey, {
          algorithms: ['RS256'],
          clockTolerance: 60,
        });
        if (payload.iss !== key.email) throw new Error('iss is not the key’s client_email');
        if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number')
          throw new Error('exp and iat required');
        if (payload.exp - payload.iat > 3600) throw new Error('exp more than 1 h after iat');
        return { payload, email: key.email, kid };
      } catch (e) {
        lastError = e;
      }
    }
    throw lastError;
  }

  async function authenticate(req: IncomingMessage): Promise<GcpCaller> {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer (\S+)$/.exec(header);
    if (!m)
      throw new GoogleApiError('UNAUTHENTICATED', 'Request is missing required authentication credential.');
    const bearer = m[1]!;
    const oauth = oauthTokens.get(bearer);
    if (oauth) {
      if (oauth.expiresAt <= Date.now()) throw new GoogleApiError('UNAUTHENTICATED', 'Access token expired.');
      return { kind: 'oauth_token', email: oauth.email, scope: oauth.scope };
    }
    try {
      const { payload, email } = await verifyKeyJwt(bearer);
      if (payload.sub !== email) throw new Error('sub is not the key’s client_email');
      const scope = typeof payload.scope === 'string' ? payload.scope : undefined;
      const aud = typeof payload.aud === 'string' ? payload.aud : undefined;
      const audOk = aud !== undefined && (IAM_AUDIENCES.includes(aud) || aud === `${base}/`);
      if (!scope?.split(' ').includes(CLOUD_PLATFORM) && !audOk)
        throw new Error('neither cloud-platform scope nor IAM audience');
      return { kind: 'self_signed_jwt', email, ...(scope ? { scope } : {}), ...(aud ? { aud } : {}) };
    } catch (e) {
      throw new GoogleApiError(
        'UNAUTHENTICATED',
        `Invalid authentication credentials: ${(e as Error).message}`,
      );
    }
  }

  async function tokenEndpoint(req: IncomingMessage, res: ServerResponse, record: GcpRecordedRequest) {
    const form = new URLSearchParams(await readBody(req));
    const fail = (error: string, description: string) => {
      record.status = 400;
      record.error = `${error}: ${description}`;
      send(res, 400, { error, error_description: description });
    };
    if (form.get('grant_type') !== JWT_BEARER) return fail('unsupported_grant_type', 'Invalid grant_type.');
    const assertion = form.get('assertion');
    if (!assertion) return fail('invalid_request', 'Missing required parameter: assertion');
    let verified: Awaited<ReturnType<typeof verifyKeyJwt>>;
    try {
      verified = await verifyKeyJwt(assertion);
    } catch (e) {
      return fail('invalid_grant', `Invalid JWT Signature or claims: ${(e as Error).message}`);
    }
    const { payload, email, kid } = verified;
    const aud = typeof payload.aud === 'string' ? payload.aud : '';
    if (aud !== `${base}/token` && aud !== GOOGLE_TOKEN_URL)
      return fail('invalid_grant', 'Invalid JWT: audience');
    const scope = typeof payload.scope === 'string' ? payload.scope : undefined;
    if (!scope && !payload.target_audience)
      return fail('invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    assertions.push({ iss: email, aud, kid, ...(scope ? { scope } : {}) });
    const token = `ya29.standin-${randomBytes(24).toString('base64url')}`;
    oauthTokens.set(token, { email, scope: scope ?? '', expiresAt: Date.now() + 3600_000 });
    record.auth = { kind: 'oauth_token', email, ...(scope ? { scope } : {}) };
    record.status = 200;
    send(res, 200, { access_token: token, token_type: 'Bearer', expires_in: 3599 });
  }

  async function generateAccessToken(
    req: IncomingMessage,
    res: ServerResponse,
    record: GcpRecordedRequest,
    resource: string,
  ) {
    record.resource = resource;
    const raw = await readBody(req);
    try {
      record.body = raw ? JSON.parse(raw) : {};
    } catch {
      throw new GoogleApiError('INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    let caller: GcpCaller;
    try {
      caller = await authenticate(req);
    } catch (e) {
      record.auth = { kind: req.headers.authorization ? 'invalid' : 'none', reason: (e as Error).message };
      throw e;
    }
    record.auth = caller;
    if (failures.n > 0) {
      failures.n--;
      throw new GoogleApiError(failures.failure, `injected ${failures.failure}`);
    }
    const body = record.body as { scope?: unknown; delegates?: unknown; lifetime?: unknown };
    const m = RESOURCE.exec(resource);
    if (!m)
      throw new GoogleApiError(
        'INVALID_ARGUMENT',
        `Invalid form of account ID ${resource}. Should be [Gaia ID |Email |Unique ID |] of the account`,
      );
    if (m[1] !== '-') {
      throw new GoogleApiError(
        'INVALID_ARGUMENT',
        'The project ID must be the wildcard character "-"; replacing it with a project ID is invalid.',
      );
    }
    const email = m[2]!;
    const scope = Array.isArray(body.scope)
      ? body.scope.filter((s): s is string => typeof s === 'string')
      : [];
    if (scope.length === 0) throw new GoogleApiError('INVALID_ARGUMENT', 'Scope required.');
    const delegates = Array.isArray(body.delegates) ? body.delegates : [];
    for (const d of delegates) {
      const dm = typeof d === 'string' ? RESOURCE.exec(d) : null;
      if (dm?.[1] !== '-') throw new GoogleApiError('INVALID_ARGUMENT', `Invalid delegate: ${String(d)}`);
    }
    const lifetime = body.lifetime === undefined ? 3600 : durationSeconds(body.lifetime);
    const max = options.extendedLifetime === true || extended.has(lower(email)) ? 43_200 : 3600;
    if (lifetime === undefined || lifetime <= 0 || lifetime > max) {
      throw new GoogleApiError(
        'INVALID_ARGUMENT',
        max === 3600
          ? 'The lifetime must be greater than 0 and at most 3600 seconds (the service account is not allowed a longer lifetime by constraints/iam.allowServiceAccountCredentialLifetimeExtension).'
          : 'The lifetime must be greater than 0 and at most 43200 seconds.',
      );
    }
    if (known && !known.has(lower(email)))
      throw new GoogleApiError('NOT_FOUND', `Not found; Gaia id not found for email ${email}`);
    if (denied.has(lower(email))) {
      throw new GoogleApiError(
        'PERMISSION_DENIED',
        "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
      );
    }
    const accessToken = `ya29.c.standin-${randomBytes(32).toString('base64url')}`;
    const expireTime = new Date(now().getTime() + Math.round(lifetime * 1000)).toISOString();
    issued.push({
      accessToken,
      serviceAccount: email,
      scope,
      delegates: delegates as string[],
      lifetimeSeconds: lifetime,
      expireTime,
      caller,
    });
    record.status = 200;
    send(res, 200, { accessToken, expireTime });
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const record: GcpRecordedRequest = {
      endpoint: 'other',
      method: req.method ?? '',
      path: url.pathname,
      status: 0,
    };
    requests.push(record);
    const gat = /^\/v1\/(.+):generateAccessToken$/.exec(url.pathname);
    const handle = async () => {
      if (req.method === 'POST' && url.pathname === '/token') {
        record.endpoint = 'token';
        return tokenEndpoint(req, res, record);
      }
      if (req.method === 'POST' && url.pathname === '/v2/entries:list') {
        record.endpoint = 'entries.list';
        const raw = await readBody(req);
        let body: unknown;
        try {
          body = raw ? JSON.parse(raw) : {};
        } catch {
          throw new GoogleApiError('INVALID_ARGUMENT', 'Invalid JSON payload received.');
        }
        record.body = body;
        const caller = await authenticate(req).catch((e: unknown) => {
          record.auth = {
            kind: req.headers.authorization ? 'invalid' : 'none',
            reason: (e as Error).message,
          };
          throw e;
        });
        record.auth = caller;
        try {
          const page = logging.list(body, caller.email);
          record.status = 200;
          return send(res, 200, page);
        } catch (e) {
          throw e instanceof LoggingError ? new GoogleApiError(e.status, e.message) : e;
        }
      }
      if (req.method === 'POST' && gat) {
        record.endpoint = 'generateAccessToken';
        return generateAccessToken(req, res, record, decodeURIComponent(gat[1]!));
      }
      throw new GoogleApiError('NOT_FOUND', `no route ${req.method} ${url.pathname}`);
    };
    handle().catch((e: unknown) => {
      const err = e instanceof GoogleApiError ? e : new GoogleApiError('INTERNAL', String(e));
      record.status = HTTP_OF[err.status];
      record.error = `${err.status}: ${err.message}`;
      if (!res.headersSent)
        send(res, record.status, {
          error: { code: record.status, message: err.message, status: err.status },
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: base,
    tokenUri: `${base}/token`,
    requests,
    issued,
    assertions,

    async writeServiceAccountKey(opts = {}) {
      const projectId = opts.projectId ?? 'jitkey-test';
      const email = opts.email ?? `jitkey-exchanger@${projectId}.iam.gserviceaccount.com`;
      const { privateKey, publicKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048 });
      const keyId = randomBytes(20).toString('hex');
      keys.set(keyId, { email, publicKey });
      const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'jitkey-gcp-')));
      if (!opts.dir) tempDirs.push(dir);
      const json = {
        type: 'service_account',
        project_id: projectId,
        private_key_id: keyId,
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        client_email: email,
        client_id: String(100000000000000000000n + BigInt(keys.size)),
        auth_uri: `${base}/auth`,
        token_uri: `${base}/token`,
        auth_provider_x509_cert_url: `${base}/certs`,
        universe_domain: 'googleapis.com',
      };
      const path = join(dir, `${keyId.slice(0, 12)}.json`);
      await writeFile(path, JSON.stringify(json, null, 2), { mode: 0o600 });
      return { path, email, keyId, json };
    },

    setFailures(n, failure) {
      failures.n = n;
      failures.failure = failure;
    },
    denyServiceAccount(email) {
      denied.add(lower(email));
    },
    allowExtendedLifetime(email) {
      extended.add(lower(email));
    },
    tokenInfo(accessToken) {
      const t = issued.find((i) => i.accessToken === accessToken);
      return t && Date.parse(t.expireTime) > now().getTime() ? t : undefined;
    },
    useToken(accessToken, call) {
      const t = issued.find((i) => i.accessToken === accessToken);
      if (!t || Date.parse(t.expireTime) <= now().getTime())
        throw new Error('Google would refuse this token');
      const delegates = t.delegates.map((d) => d.split('/').at(-1)!);
      logging.record(t.serviceAccount, [t.caller.email, ...delegates], call);
    },
    logging,

    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

/**
 * A GitHub-Actions-shaped OIDC issuer on loopback, for tests, the demo and the bench: a real HTTP
 * server serving OpenID discovery and a JWKS, and a `mint` that signs GitHub-shaped tokens.
 *
 *   const idp = await startOidcIssuer();               // audience 'jitkey', iss = idp.url
 *   const token = idp.mint({ ref: 'refs/heads/dev' }); // GitHub's claims, with overrides
 *   idp.mint({}, { omit: ['jti'] });                    // without a claim
 *   idp.mint({}, { alg: 'none' });                      // unsigned; 'HS256' signs with the public key PEM
 *   idp.mint({}, { header: { jku: 'https://evil/jwks' } });
 *   idp.rotate();                                       // new signing key; the old one stays published
 *   idp.jwksFetches; idp.discoveryFetches;              // how often each document was served
 *   idp.failJwks(503);  idp.failJwks(null);             // make the JWKS endpoint fail, then recover
 *   await idp.stop();
 *   await startOidcIssuer({ shape: 'gitlab' });          // GitLab's, Buildkite's or CircleCI's claims (`ci-claims.ts`)
 *
 * Test-only: never import this from `exchanger/`.
 */
import {
  constants,
  createHash,
  createHmac,
  generateKeyPairSync,
  type KeyObject,
  randomUUID,
  sign,
} from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CiShape, LIFETIME, PRESETS } from './ci-claims.js';

/** The claims GitHub Actions puts in its OIDC tokens (docs: "About security hardening with OpenID Connect"). */
export interface GithubOidcClaims {
  jti: string;
  sub: string;
  aud: string | string[];
  iss: string;
  iat: number;
  nbf: number;
  exp: number;
  repository: string;
  repository_id: string;
  repository_owner: string;
  repository_owner_id: string;
  repository_visibility: string;
  ref: string;
  ref_type: string;
  ref_protected: string;
  sha: string;
  environment: string;
  event_name: string;
  head_ref: string;
  base_ref: string;
  workflow: string;
  workflow_ref: string;
  workflow_sha: string;
  job_workflow_ref: string;
  job_workflow_sha: string;
  actor: string;
  actor_id: string;
  run_id: string;
  run_number: string;
  run_attempt: string;
  runner_environment: string;
}

/**
 * Overrides for `mint`: any GitHub claim, or any other claim, of any type (negative tests need
 * `iat: 'soon'` or `jti: 42`). An `undefined` value removes the claim.
 */
export type ClaimOverrides = { [K in keyof GithubOidcClaims]?: unknown } & Record<string, unknown>;

export interface MintOptions {
  /** Merged over the default header `{ typ, alg, kid, x5t }`; an `undefined` value removes an entry. */
  header?: Record<string, unknown>;
  /** Default: the current signing key's kid. */
  kid?: string;
  /** Default `RS256`. `none` leaves the signature empty; `HS256`/`HS384`/`HS512` sign with `secret`. */
  alg?: string;
  /** A private key to sign with instead of the issuer's (a "wrong key"); see `generateSigningKey`. */
  key?: KeyObject;
  /** HMAC secret for `HS*`; default: the current public key as PEM (the classic confusion attack). */
  secret?: string | Buffer;
  /** `exp - iat`; default the shape's own (GitHub and Buildkite 5 minutes, GitLab and CircleCI 1 hour). */
  lifetimeSeconds?: number;
  /** Claim names to leave out. */
  omit?: string[];
}

export interface OidcIssuerOptions {
  /** Default `jitkey`. */
  audience?: string;
  /** Path under the host, e.g. `/_services/token` to look like GHES; default none. */
  path?: string;
  /** Clock for `iat`/`nbf`/`exp`, in milliseconds; default `Date.now`. */
  now?: () => number;
  /** Fields merged over the served discovery document (e.g. a mismatching `issuer`). */
  discovery?: Record<string, unknown>;
  /** Fields merged over every published JWK (e.g. `{ use: 'enc' }`); `undefined` removes one. */
  jwk?: Record<string, unknown>;
  /** Whose token shape `mint` signs: GitHub's (default), GitLab's, Buildkite's or CircleCI's. */
  shape?: CiShape;
}

export interface OidcIssuer {
  /** The issuer URL, also every token's `iss`: `http://127.0.0.1:PORT[path]`. */
  readonly url: string;
  readonly audience: string;
  readonly discoveryUrl: string;
  readonly jwksUrl: string;
  /** The kid of the key that signs now. */
  readonly kid: string;
  /** The current signing key's public half, PEM. */
  readonly publicKeyPem: string;
  /** The kids published in the JWKS, newest first. */
  readonly publishedKids: string[];
  readonly discoveryFetches: number;
  readonly jwksFetches: number;
  /** The payload `mint` would sign. */
  claims(overrides?: ClaimOverrides, options?: MintOptions): Record<string, unknown>;
  mint(overrides?: ClaimOverrides, options?: MintOptions): string;
  /** New signing key; the old ones stay published unless `retire` is true. Returns the new kid. */
  rotate(options?: { retire?: boolean }): string;
  /** The JWKS endpoint answers `status` from now on; `null` makes it work again. */
  failJwks(status?: number | null): void;
  stop(): Promise<void>;
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The public JWK as the issuer publishes it. */
  jwk: Record<string, unknown>;
}

/** A fresh RSA-2048 key, its kid the RFC 7638 thumbprint. */
export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const { n, e } = publicKey.export({ format: 'jwk' });
  const kid = createHash('sha256')
    .update(JSON.stringify({ e, kty: 'RSA', n }))
    .digest('base64url');
  return { kid, privateKey, publicKey, jwk: { kty: 'RSA', n, e, kid, alg: 'RS256', use: 'sig' } };
}

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };

/** Compact JWS of `header` and `payload`, signed according to `header.alg` (`none`, HS*, RS*, PS*, ES*). */
export function signJwt(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signer: { key?: KeyObject; secret?: string | Buffer } = {},
): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${enc(header)}.${enc(payload)}`;
  const alg = String(header.alg ?? 'none');
  if (alg.toLowerCase() === 'none') return `${input}.`;
  const hash = HASH[alg.slice(2)];
  if (!hash) throw new Error(`signJwt: unsupported alg ${alg}`);
  if (alg.startsWith('HS')) {
    if (signer.secret === undefined) throw new Error('signJwt: HS* needs a secret');
    return `${input}.${createHmac(hash, signer.secret).update(input).digest('base64url')}`;
  }
  if (!signer.key) throw new Error(`signJwt: ${alg} needs a private key`);
  const key = alg.startsWith('PS')
    ? {
        key: signer.key,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
      }
    : alg.startsWith('ES')
      ? { key: signer.key, dsaEncoding: 'ieee-p1363' as const }
      : signer.key;
  return `${input}.${sign(hash, Buffer.from(input), key).toString('base64url')}`;
}

function withoutUndefined(record: Record<string, unknown>): Record<string, unknown> {
  for (const k of Object.keys(record)) if (record[k] === undefined) delete record[k];
  return record;
}

export async function startOidcIssuer(options: OidcIssuerOptions = {}): Promise<OidcIssuer> {
  const audience = options.audience ?? 'jitkey';
  const path = (options.path ?? '').replace(/\/+$/, '');
  const now = options.now ?? Date.now;
  let keys: SigningKey[] = [generateSigningKey()];
  let jwksFailure: number | null = null;
  const counts = { discovery: 0, jwks: 0 };

  const server: Server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    const route = req.method === 'GET' ? req.url : undefined;
    if (route === `${path}/.well-known/openid-configuration`) {
      counts.discovery++;
      send(200, {
        issuer: url,
        jwks_uri: `${url}/.well-known/jwks`,
        subject_types_supported: ['public', 'pairwise'],
        response_types_supported: ['id_token'],
        claims_supported: [
          'sub',
          'aud',
          'exp',
          'iat',
          'iss',
          'jti',
          'nbf',
          'ref',
          'repository',
          'repository_id',
        ],
        id_token_signing_alg_values_supported: ['RS256'],
        scopes_supported: ['openid'],
        ...options.discovery,
      });
    } else if (route === `${path}/.well-known/jwks`) {
      counts.jwks++;
      if (jwksFailure !== null) send(jwksFailure, { error: 'jwks endpoint made to fail' });
      else send(200, { keys: keys.map((k) => withoutUndefined({ ...k.jwk, ...options.jwk })) });
    } else {
      send(404, { error: 'not found' });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}${path}`;

  const current = () => keys[0]!;

  function claims(overrides: ClaimOverrides = {}, opts: MintOptions = {}): Record<string, unknown> {
    const iat = Math.floor(now() / 1000);
    const shape = options.shape ?? 'github';
    if (shape !== 'github') {
      const exp = iat + (opts.lifetimeSeconds ?? LIFETIME[shape]);
      const preset = PRESETS[shape]({ iss: url, aud: audience, iat, exp });
      const out = withoutUndefined({ ...preset, ...overrides });
      for (const name of opts.omit ?? []) delete out[name];
      return out;
    }
    const sha = 'a3f1c9e2b7d4058e6f1a2b3c4d5e6f708192a3b4';
    const base: GithubOidcClaims = {
      jti: randomUUID(),
      sub: 'repo:acme/web:environment:production',
      aud: audience,
      iss: url,
      iat,
      nbf: iat,
      exp: iat + (opts.lifetimeSeconds ?? 300),
      repository: 'acme/web',
      repository_id: '123456',
      repository_owner: 'acme',
      repository_owner_id: '7890',
      repository_visibility: 'private',
      ref: 'refs/heads/main',
      ref_type: 'branch',
      ref_protected: 'true',
      sha,
      environment: 'production',
      event_name: 'push',
      head_ref: '',
      base_ref: '',
      workflow: 'Deploy',
      workflow_ref: 'acme/web/.github/workflows/deploy.yml@refs/heads/main',
      workflow_sha: sha,
      job_workflow_ref: 'acme/web/.github/workflows/deploy.yml@refs/heads/main',
      job_workflow_sha: sha,
      actor: 'octocat',
      actor_id: '1',
      run_id: '9876543210',
      run_number: '42',
      run_attempt: '1',
      runner_environment: 'github-hosted',
    };
    const out = withoutUndefined({ ...base, ...overrides });
    for (const name of opts.omit ?? []) delete out[name];
    return out;
  }

  function mint(overrides: ClaimOverrides = {}, opts: MintOptions = {}): string {
    const alg = opts.alg ?? 'RS256';
    const kid = opts.kid ?? current().kid;
    const header = withoutUndefined({ typ: 'JWT', alg, x5t: kid, kid, ...opts.header });
    const secret = opts.secret ?? current().publicKey.export({ format: 'pem', type: 'spki' });
    return signJwt(header, claims(overrides, opts), { key: opts.key ?? current().privateKey, secret });
  }

  return {
    url,
    audience,
    discoveryUrl: `${url}/.well-known/openid-configuration`,
    jwksUrl: `${url}/.well-known/jwks`,
    get kid() {
      return current().kid;
    },
    get publicKeyPem() {
      return current().publicKey.export({ format: 'pem', type: 'spki' }).toString();
    },
    get publishedKids() {
      return keys.map((k) => k.kid);
    },
    get discoveryFetches() {
      return counts.discovery;
    },
    get jwksFetches() {
      return counts.jwks;
    },
    claims,
    mint,
    rotate({ retire = false } = {}) {
      const next = generateSigningKey();
      keys = retire ? [next] : [next, ...keys];
      return next.kid;
    },
    failJwks(status = 503) {
      jwksFailure = status;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

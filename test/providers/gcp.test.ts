/**
 * The gcp provider through the real `@google-cloud/iam-credentials` client (REST transport) and
 * google-auth-library's Application Default Credentials, against the loopback Google stand-in.
 */

import { generateKeyPairSync } from 'node:crypto';
import { JWT } from 'google-auth-library';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../exchanger/policy/model/types.js';
import { createGcpProvider, type GcpProvider, gcpConfigFromEnv } from '../../exchanger/providers/gcp.js';
import { type GcpStandin, type ServiceAccountKey, startGcpStandin } from '../support/gcp-standin.js';
import { rejection } from '../support/rejection.js';
import { mintRequestFor as request } from './mint-request.js';

const NOW = new Date('2030-01-02T03:04:05.000Z');
const SA = 'ci-reader@proj.iam.gserviceaccount.com';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

function role(gcp: Partial<NonNullable<Role['gcp']>> = {}, name = 'read-artifacts'): Role {
  return {
    name,
    provider: 'gcp',
    gcp: {
      serviceAccount: SA,
      scopes: [CLOUD_PLATFORM],
      delegates: [],
      allowExtendedLifetime: false,
      ...gcp,
    },
    durationSeconds: 900,
    maxDurationSeconds: 43_200,
    allow: [],
    deny: [],
    requireProtectedEnvironment: false,
  };
}

let gcp: GcpStandin;
let key: ServiceAccountKey;
let provider: GcpProvider;
const sleeps: number[] = [];

const iamRequests = () => gcp.requests.filter((r) => r.endpoint === 'generateAccessToken');

beforeAll(async () => {
  gcp = await startGcpStandin({ now: () => NOW });
  key = await gcp.writeServiceAccountKey();
  process.env.GOOGLE_APPLICATION_CREDENTIALS = key.path;
  provider = createGcpProvider({
    endpoint: gcp.url,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
  });
});

afterEach(() => {
  gcp.requests.length = 0;
  gcp.issued.length = 0;
  sleeps.length = 0;
  gcp.setFailures(0, 'UNAVAILABLE');
});

afterAll(async () => {
  await provider.close();
  await gcp.stop();
});

describe('gcp provider', () => {
  it('mints an access token for the service account with the role scopes and the granted lifetime', async () => {
    const minted = await provider.mint(request(role(), 900));

    expect(gcp.issued).toHaveLength(1);
    const issued = gcp.issued[0]!;
    expect(minted).toEqual({
      credentials: { access_token: issued.accessToken, token_type: 'Bearer', service_account: SA },
      expiresAt: new Date('2030-01-02T03:19:05.000Z'),
    });
    expect(issued).toMatchObject({
      serviceAccount: SA,
      scope: [CLOUD_PLATFORM],
      delegates: [],
      lifetimeSeconds: 900,
    });
    const [sent] = iamRequests();
    expect(sent).toMatchObject({
      method: 'POST',
      resource: `projects/-/serviceAccounts/${SA}`,
      body: { scope: [CLOUD_PLATFORM], lifetime: '900s' },
      status: 200,
    });
  });

  it("authenticates as the exchanger's own ADC identity: a JWT signed by the key file, verified by the stand-in", async () => {
    await provider.mint(request(role()));
    const [sent] = iamRequests();
    // google-auth-library signs a service-account JWT with the key from GOOGLE_APPLICATION_CREDENTIALS;
    // the stand-in checked its RS256 signature against the key's public half, kid, iss = sub = client_email.
    expect(sent?.auth).toMatchObject({ kind: 'self_signed_jwt', email: key.email });
    expect(gcp.issued[0]?.caller.email).toBe(key.email);
  });

  it('passes the role scopes, and cloud-platform when the role names none', async () => {
    const scopes = [
      'https://www.googleapis.com/auth/devstorage.read_only',
      'https://www.googleapis.com/auth/userinfo.email',
    ];
    await provider.mint(request(role({ scopes })));
    await provider.mint(request(role({ scopes: [] })));
    expect(gcp.issued.map((i) => i.scope)).toEqual([scopes, [CLOUD_PLATFORM]]);
  });

  it('passes delegates as service-account resource names', async () => {
    const delegates = ['hop-1@proj.iam.gserviceaccount.com', 'hop-2@proj.iam.gserviceaccount.com'];
    await provider.mint(request(role({ delegates })));
    expect(gcp.issued[0]?.delegates).toEqual([
      'projects/-/serviceAccounts/hop-1@proj.iam.gserviceaccount.com',
      'projects/-/serviceAccounts/hop-2@proj.iam.gserviceaccount.com',
    ]);
  });

  it('refuses a lifetime over 1 h unless the role allows extended lifetimes, without asking GCP', async () => {
    const e = await rejection(provider.mint(request(role(), 7200)));
    expect(e.code).toBe('invalid_request');
    expect(e.message).toContain('allow_extended_lifetime: true');
    expect(e.message).toContain('at most 1h');
    expect(iamRequests()).toHaveLength(0);
  });

  it('accepts exactly 1 h without the extension', async () => {
    const minted = await provider.mint(request(role(), 3600));
    expect(minted.expiresAt).toEqual(new Date(NOW.getTime() + 3600_000));
  });

  it('asks for an extended lifetime when the role allows it; GCP refusing it (no org policy) is an upstream error naming the constraint', async () => {
    const extended = role({ allowExtendedLifetime: true });
    const e = await rejection(provider.mint(request(extended, 7200)));
    expect(e.code).toBe('upstream_error');
    expect(e.message).toContain('INVALID_ARGUMENT (400)');
    expect(e.message).toContain('constraints/iam.allowServiceAccountCredentialLifetimeExtension');

    gcp.allowExtendedLifetime(SA);
    const minted = await provider.mint(request(extended, 7200));
    expect(gcp.issued[0]?.lifetimeSeconds).toBe(7200);
    expect(minted.expiresAt).toEqual(new Date(NOW.getTime() + 7200_000));
  });

  it('refuses lifetimes over 12 h, which GCP never grants', async () => {
    const e = await rejection(provider.mint(request(role({ allowExtendedLifetime: true }), 43_201)));
    expect(e.code).toBe('invalid_request');
    expect(e.message).toContain('at most 12h');
    expect(iamRequests()).toHaveLength(0);
  });

  it('maps PERMISSION_DENIED to upstream_error naming it, with the IAM role to grant, without retrying', async () => {
    const denied = 'no-grant@proj.iam.gserviceaccount.com';
    gcp.denyServiceAccount(denied);
    const e = await rejection(provider.mint(request(role({ serviceAccount: denied }))));
    expect(e.code).toBe('upstream_error');
    expect(e.status).toBe(502);
    expect(e.message).toContain('PERMISSION_DENIED (403)');
    expect(e.message).toContain(`grant roles/iam.serviceAccountTokenCreator on ${denied}`);
    expect(e.detail).toContain('iam.serviceAccounts.getAccessToken');
    expect(iamRequests()).toHaveLength(1);
  });

  it('retries UNAVAILABLE: twice unavailable, then a token', async () => {
    gcp.setFailures(2, 'UNAVAILABLE');
    const minted = await provider.mint(request(role()));
    expect(iamRequests().map((r) => r.status)).toEqual([503, 503, 200]);
    expect(minted.credentials.access_token).toBe(gcp.issued[0]?.accessToken);
    expect(sleeps).toEqual([100, 200]); // jittered (random 0.5) exponential backoff
  });

  it('retries RESOURCE_EXHAUSTED (429)', async () => {
    gcp.setFailures(1, 'RESOURCE_EXHAUSTED');
    await provider.mint(request(role()));
    expect(iamRequests().map((r) => r.status)).toEqual([429, 200]);
  });

  it('gives up after 3 tries, naming the status', async () => {
    gcp.setFailures(5, 'UNAVAILABLE');
    const e = await rejection(provider.mint(request(role())));
    expect(e.code).toBe('upstream_error');
    expect(e.message).toContain('UNAVAILABLE (503)');
    expect(e.message).toContain('after 3 tries');
    expect(iamRequests()).toHaveLength(3);
  });

  it('never puts the access token or the bearer in an error', async () => {
    gcp.denyServiceAccount('x@proj.iam.gserviceaccount.com');
    const e = await rejection(
      provider.mint(request(role({ serviceAccount: 'x@proj.iam.gserviceaccount.com' }))),
    );
    const text = JSON.stringify({
      m: e.message,
      d: e.detail,
      c: String(e.cause),
      cc: (e.cause as Error).message,
    });
    expect(text).not.toMatch(/eyJ|ya29|Bearer/);
  });
});

describe('gcp provider: its own credentials', () => {
  it('reports missing Application Default Credentials, then recovers once they are there', async () => {
    const missing = createGcpProvider({ endpoint: gcp.url, sleep: async () => {} });
    const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
    process.env.GOOGLE_APPLICATION_CREDENTIALS = `${key.path}.missing`;
    try {
      const e = await rejection(missing.mint(request(role())));
      expect(e.code).toBe('upstream_error');
      expect(e.message).toContain('Application Default Credentials');
      expect(iamRequests()).toHaveLength(0);
    } finally {
      process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
    }
    const minted = await missing.mint(request(role()));
    expect(minted.credentials.service_account).toBe(SA);
    await missing.close();
  });

  it('the stand-in token endpoint verifies the JWT-bearer assertion google-auth-library signs', async () => {
    // google-auth-library sends the JWT-bearer grant to Google's fixed token URL; point its transport here.
    const client = new JWT({ email: key.email, key: key.json.private_key, scopes: [CLOUD_PLATFORM] });
    client.transporter.interceptors.request.add({
      resolved: async (config) => {
        if (String(config.url) === 'https://oauth2.googleapis.com/token') config.url = new URL(gcp.tokenUri);
        return config;
      },
    });
    const { token } = await client.getAccessToken();
    expect(token).toMatch(/^ya29\.standin-/);
    expect(gcp.assertions.at(-1)).toMatchObject({
      iss: key.email,
      scope: CLOUD_PLATFORM,
      kid: key.keyId,
      aud: 'https://oauth2.googleapis.com/token',
    });

    const res = await fetch(`${gcp.url}/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scope: [CLOUD_PLATFORM], lifetime: '60s' }),
    });
    expect(res.status).toBe(200);
    expect(iamRequests().at(-1)?.auth).toMatchObject({ kind: 'oauth_token', email: key.email });
  });

  it('the stand-in token endpoint refuses an assertion signed by another key', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ scope: CLOUD_PLATFORM })
      .setProtectedHeader({ alg: 'RS256', kid: key.keyId })
      .setIssuer(key.email)
      .setAudience(gcp.tokenUri)
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(privateKey);
    const res = await fetch(gcp.tokenUri, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion: forged,
      }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
  });
});

describe('gcp configuration', () => {
  it('reads JITKEY_GCP_IAM_ENDPOINT', () => {
    expect(gcpConfigFromEnv({ JITKEY_GCP_IAM_ENDPOINT: 'https://iam.example.internal' })).toEqual({
      endpoint: 'https://iam.example.internal',
    });
    expect(gcpConfigFromEnv({})).toEqual({});
  });

  it.each([
    ['http on a non-loopback host', 'http://iamcredentials.example.com', 'only on loopback'],
    ['a path', 'https://iamcredentials.googleapis.com/v1', 'no path'],
    ['not a URL', 'iamcredentials', 'not an absolute URL'],
  ])('refuses an endpoint with %s', (_name, endpoint, message) => {
    expect(() => createGcpProvider({ endpoint })).toThrow(message);
  });

  it('accepts http on loopback and https anywhere', async () => {
    await createGcpProvider({ endpoint: 'http://[::1]:8123' }).close();
    await createGcpProvider({ endpoint: 'https://iamcredentials.googleapis.com' }).close();
  });
});

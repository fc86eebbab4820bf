import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JitkeyError } from '../../exchanger/errors.js';
import { newLeaseId } from '../../exchanger/leases/secrets.js';
import type { Role } from '../../exchanger/policy/model/types.js';
import {
  createKubernetesProvider,
  type KubernetesProvider,
  secretName,
} from '../../exchanger/providers/kubernetes.js';
import { createKubeApi } from '../../exchanger/providers/kubernetes-api.js';
import { kubeCredentialsFromEnv, readKubeconfig } from '../../exchanger/providers/kubernetes-config.js';
import type { LeaseLookup } from '../../exchanger/providers/types.js';
import {
  EXCHANGER_USER,
  type KubernetesStandin,
  startKubernetesStandin,
} from '../support/kubernetes-standin.js';

function roleFor(server: string, over: Partial<NonNullable<Role['kubernetes']>> = {}): Role {
  return {
    name: 'deploy-web',
    provider: 'kubernetes',
    kubernetes: { server, namespace: 'web', serviceAccount: 'deployer', audiences: [], ...over },
    durationSeconds: 900,
    maxDurationSeconds: 3600,
    allow: [],
    deny: [],
    requireProtectedEnvironment: false,
  };
}

/** The leases the store would hold: what each mint below issued. */
const ledger = new Map<string, { expiresAt: Date; revoked?: boolean }>();

/** The store's word on lease ids, as `leases/sweep.ts` gives it, at `at`. */
const storeAt =
  (at: Date): LeaseLookup =>
  async (id) => {
    const lease = ledger.get(id);
    if (!lease) return undefined;
    return { provider: 'kubernetes', ended: lease.revoked === true || lease.expiresAt <= at };
  };

async function mint(provider: KubernetesProvider, role: Role, durationSeconds = 900, leaseId = newLeaseId()) {
  const minted = await provider.mint({
    role,
    claims: { repository: 'acme/web' },
    durationSeconds,
    requestId: 'req_1',
    leaseId,
  });
  ledger.set(leaseId, { expiresAt: minted.expiresAt });
  return minted;
}

/** A job's use of its token: list ConfigMaps in its namespace, as kubectl would. */
async function useToken(kube: KubernetesStandin, token: string, namespace = 'web'): Promise<number> {
  const res = await fetch(`${kube.url}/api/v1/namespaces/${namespace}/configmaps`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await res.arrayBuffer();
  return res.status;
}

/** What the API server says of a token when asked (TokenReview, as the exchanger's identity). */
async function tokenReview(kube: KubernetesStandin, token: string): Promise<unknown> {
  const res = await fetch(`${kube.url}/apis/authentication.k8s.io/v1/tokenreviews`, {
    method: 'POST',
    headers: { authorization: `Bearer ${kube.exchangerToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } }),
  });
  return ((await res.json()) as { status: unknown }).status;
}

async function refusal(p: Promise<unknown>): Promise<JitkeyError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(JitkeyError);
  return err as JitkeyError;
}

describe('kubernetes provider against the API stand-in', () => {
  let kube: KubernetesStandin;
  let provider: KubernetesProvider;
  let scheduled: { fn: () => void; ms: number; cancelled: boolean }[];
  let clock: Date;

  beforeEach(async () => {
    kube = await startKubernetesStandin({ namespaces: { web: ['deployer'], other: ['deployer'] } });
    const creds = readKubeconfig(kube.writeKubeconfig());
    scheduled = [];
    clock = new Date();
    provider = createKubernetesProvider({
      connect: (server) => createKubeApi(creds.connectionFor(server)),
      now: () => clock,
      schedule: (fn, ms) => {
        const entry = { fn, ms, cancelled: false };
        scheduled.push(entry);
        return () => {
          entry.cancelled = true;
        };
      },
    });
  });
  afterEach(async () => {
    provider.close();
    await kube.stop();
  });

  it('issues a token bound to a per-lease Secret, usable in its namespace only', async () => {
    const leaseId = newLeaseId();
    const minted = await mint(provider, roleFor(kube.url, { audiences: ['ci'] }), 900, leaseId);
    const creds = minted.credentials as Record<string, string>;
    expect(Object.keys(creds).sort()).toEqual(['expires_at', 'namespace', 'server', 'token']);
    expect(creds).toMatchObject({
      server: kube.url,
      namespace: 'web',
      expires_at: minted.expiresAt.toISOString(),
    });
    expect(minted.expiresAt.getTime()).toBe(clock.getTime() + 900_000);

    const secret = kube.secrets.get(`web/${secretName(leaseId)}`);
    expect(secret?.labels).toEqual({ 'app.kubernetes.io/managed-by': 'jitkey' });
    expect(secret?.annotations['jitkey.dev/lease-id']).toBe(leaseId);
    const [issued] = kube.issued;
    expect(issued).toMatchObject({
      namespace: 'web',
      serviceAccount: 'deployer',
      audiences: ['ci'],
      expirationSeconds: 900,
      bound: { kind: 'Secret', name: secret?.name, uid: secret?.uid },
    });
    expect(creds.token).toBe(issued?.token);
    // The exchanger made the calls as itself; the job's token is the service account.
    expect(kube.requests.filter((r) => r.method === 'POST').map((r) => r.user)).toEqual([
      EXCHANGER_USER,
      EXCHANGER_USER,
    ]);
    expect(kube.authenticate(creds.token!)).toBe('system:serviceaccount:web:deployer');
    expect(await useToken(kube, creds.token!)).toBe(200);
    expect(await useToken(kube, creds.token!, 'other')).toBe(403);
  });

  it('asks for 600 s (Kubernetes floor) under 10 minutes, and the lease still ends at its own time', async () => {
    const minted = await mint(provider, roleFor(kube.url), 120);
    expect(kube.issued[0]?.expirationSeconds).toBe(600);
    expect(minted.expiresAt.getTime()).toBe(clock.getTime() + 120_000);
    expect(scheduled.map((s) => s.ms)).toEqual([120_000]);
  });

  it('revoke deletes the Secret: the token is rejected at once, whatever the policy says now', async () => {
    const minted = await mint(provider, roleFor(kube.url));
    const token = (minted.credentials as { token: string }).token;
    expect(await useToken(kube, token)).toBe(200);
    expect(await tokenReview(kube, token)).toEqual({
      authenticated: true,
      user: { username: 'system:serviceaccount:web:deployer' },
    });
    await provider.revoke(undefined, minted.revocationSecret!);
    expect(kube.secrets.size).toBe(0);
    expect(await useToken(kube, token)).toBe(401);
    expect(await tokenReview(kube, token)).toEqual({ user: {}, error: 'invalid bearer token' });
    expect(scheduled[0]?.cancelled).toBe(true);
    // Twice is fine: the Secret is already gone.
    await provider.revoke(undefined, minted.revocationSecret!);
  });

  it('the revocation material names the Secret and nothing secret', async () => {
    const leaseId = newLeaseId();
    const minted = await mint(provider, roleFor(kube.url), 900, leaseId);
    expect(JSON.parse(minted.revocationSecret!)).toEqual({
      server: kube.url,
      namespace: 'web',
      name: secretName(leaseId),
    });
    expect(secretName(leaseId)).toMatch(/^jitkey-lease-[0-9a-f]+$/);
  });

  it('lease end: the per-lease timer deletes the Secret and the token stops working', async () => {
    const minted = await mint(provider, roleFor(kube.url));
    const token = (minted.credentials as { token: string }).token;
    expect(scheduled).toHaveLength(1);
    scheduled[0]?.fn();
    await expect.poll(() => kube.secrets.size).toBe(0);
    expect(await useToken(kube, token)).toBe(401);
  });

  it('lease end: the sweep deletes the Secrets of ended leases (after a restart, or the API server was down)', async () => {
    const role = roleFor(kube.url);
    const short = await mint(provider, role, 300);
    const long = await mint(provider, role, 3600);
    // A fresh provider (another instance, or after a restart) knows only the policy's roles.
    const creds = readKubeconfig(kube.writeKubeconfig());
    const later = new Date(clock.getTime() + 301_000);
    const restarted = createKubernetesProvider({
      connect: (server) => createKubeApi(creds.connectionFor(server)),
      now: () => later,
    });
    expect(await restarted.sweep([role], storeAt(later))).toBe(1);
    // Metadata only: the sweep never asks for other workloads' secret data.
    const list = kube.requests.find((r) => r.method === 'GET' && r.path === '/api/v1/namespaces/web/secrets');
    expect(list?.accept).toMatch(/^application\/json;as=PartialObjectMetadataList;g=meta\.k8s\.io;v=v1/);
    expect(await useToken(kube, (short.credentials as { token: string }).token)).toBe(401);
    expect(await useToken(kube, (long.credentials as { token: string }).token)).toBe(200);
    // Secrets jitkey did not make are never touched.
    kube.secrets.set('web/unrelated', {
      namespace: 'web',
      name: 'unrelated',
      uid: 'u',
      labels: {},
      annotations: { 'jitkey.dev/expires-at': '2000-01-01T00:00:00Z' },
    });
    expect(await restarted.sweep([role], storeAt(later))).toBe(0);
    expect(kube.secrets.has('web/unrelated')).toBe(true);
  });

  it("the sweep deletes only Secrets of leases the store knows: jitkey's label is not enough", async () => {
    const role = roleFor(kube.url);
    const ended = newLeaseId();
    await mint(provider, role, 300, ended);
    const later = new Date(clock.getTime() + 301_000);
    const labelled = (name: string, leaseId: string) =>
      kube.secrets.set(`web/${name}`, {
        namespace: 'web',
        name,
        uid: name,
        labels: { 'app.kubernetes.io/managed-by': 'jitkey' },
        annotations: { 'jitkey.dev/lease-id': leaseId, 'jitkey.dev/expires-at': '2000-01-01T00:00:00Z' },
      });
    // Named and annotated as jitkey would, for a lease jitkey never issued.
    const unknown = newLeaseId();
    labelled(secretName(unknown), unknown);
    // Another workload's Secret, carrying the label and a real ended lease's id.
    labelled('payments-db', ended);
    expect(await provider.sweep([role], storeAt(later))).toBe(1);
    expect(kube.secrets.has(`web/${secretName(ended)}`)).toBe(false);
    expect(kube.secrets.has(`web/${secretName(unknown)}`)).toBe(true);
    expect(kube.secrets.has('web/payments-db')).toBe(true);
  });

  it("the sweep deletes a revoked lease's Secret before its end (a revoke whose delete failed)", async () => {
    const role = roleFor(kube.url);
    const leaseId = newLeaseId();
    await mint(provider, role, 3600, leaseId);
    expect(await provider.sweep([role], storeAt(clock))).toBe(0);
    ledger.set(leaseId, { ...ledger.get(leaseId)!, revoked: true });
    expect(await provider.sweep([role], storeAt(clock))).toBe(1);
    expect(kube.secrets.size).toBe(0);
  });

  it('the sweep survives an API server that is down, and catches up after', async () => {
    const role = roleFor(kube.url);
    await mint(provider, role, 300);
    clock = new Date(clock.getTime() + 600_000);
    const creds = readKubeconfig(kube.writeKubeconfig());
    const down = createKubernetesProvider({
      connect: (server) => createKubeApi({ ...creds.connectionFor(server), server: 'http://127.0.0.1:1' }),
      now: () => clock,
    });
    expect(await down.sweep([role], storeAt(clock))).toBe(0);
    expect(kube.secrets.size).toBe(1);
    // It minted there, so it sweeps there without a role.
    expect(await provider.sweep([], storeAt(clock))).toBe(1);
  });

  it('expiry: the token is refused once its own expirationSeconds have passed', async () => {
    const minted = await mint(provider, roleFor(kube.url), 900);
    const token = (minted.credentials as { token: string }).token;
    kube.setNow(new Date(Date.now() + 901_000));
    expect(await useToken(kube, token)).toBe(401);
  });

  describe('bad input and upstream failures are 502 saying what to fix', () => {
    it('unknown namespace', async () => {
      const err = await refusal(mint(provider, roleFor(kube.url, { namespace: 'nope' })));
      expect(err.code).toBe('upstream_error');
      expect(err.status).toBe(502);
      expect(err.message).toBe(
        `namespace 'nope' does not exist on ${kube.url}: create it or fix the role's namespace`,
      );
    });

    it('unknown service account (and the Secret made for it is deleted again)', async () => {
      const err = await refusal(mint(provider, roleFor(kube.url, { serviceAccount: 'ghost' })));
      expect(err.message).toBe(
        `service account 'ghost' does not exist in namespace 'web' on ${kube.url}: create it or fix the role's service_account`,
      );
      expect(kube.secrets.size).toBe(0);
    });

    it('TokenRequest forbidden: names the missing RBAC verb and resource', async () => {
      kube.forbid('create', 'serviceaccounts/token');
      const err = await refusal(mint(provider, roleFor(kube.url)));
      expect(err.status).toBe(502);
      expect(err.message).toBe(
        `the Kubernetes API server at ${kube.url} refused: the exchanger's identity lacks RBAC permission 'create' on 'serviceaccounts/token' in namespace 'web' (grant it with a Role and RoleBinding there: see deploy/kubernetes/)`,
      );
      // The API server's own text (it names the exchanger's user) is for operators only.
      expect(err.message).not.toContain(EXCHANGER_USER);
      expect(err.detail).toContain(EXCHANGER_USER);
      expect(kube.secrets.size).toBe(0);
    });

    it('a TokenRequest answered for other audiences than asked: refused, and its token killed', async () => {
      kube.answerAudiences(['https://vault.acme.internal']);
      const err = await refusal(mint(provider, roleFor(kube.url, { audiences: ['ci'] })));
      expect(err.status).toBe(502);
      expect(err.message).toBe(
        `the Kubernetes API server at ${kube.url} answered oddly: the TokenRequest answer is for audiences ["https://vault.acme.internal"], not the ["ci"] asked for; the token was not handed out`,
      );
      // The token was issued upstream; deleting its bound Secret is what ends it.
      expect(kube.issued).toHaveLength(1);
      expect(kube.secrets.size).toBe(0);
      expect(kube.authenticate(kube.issued[0]!.token)).toBeUndefined();
      // Asked for none, the API server's own audiences are what a role without `audiences` gets.
      kube.answerAudiences(undefined);
      await mint(provider, roleFor(kube.url));
      expect(kube.issued[1]?.audiences).toEqual(['https://kubernetes.default.svc']);
    });

    it('Secret creation forbidden', async () => {
      kube.forbid('create', 'secrets');
      const err = await refusal(mint(provider, roleFor(kube.url)));
      expect(err.message).toContain("lacks RBAC permission 'create' on 'secrets' in namespace 'web'");
    });

    it('API server down', async () => {
      await kube.stop();
      const err = await refusal(mint(provider, roleFor(kube.url)));
      expect(err.status).toBe(502);
      expect(err.message).toBe(`the Kubernetes API server at ${kube.url} is unreachable; try again shortly`);
      kube = await startKubernetesStandin({ namespaces: {} }); // for afterEach
    });

    it("the exchanger's own credentials refused", async () => {
      const bad = createKubernetesProvider({
        connect: (server) => createKubeApi({ server, token: () => 'wrong', source: 'test' }),
      });
      const err = await refusal(mint(bad, roleFor(kube.url)));
      expect(err.message).toContain("did not accept the exchanger's own credentials (test)");
    });
  });
});

describe('the exchanger credentials (JITKEY_KUBECONFIG, in-cluster)', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'jitkey-kcfg-'));

  it("picks the context whose server is the role's; a server no context names is an error, never the current context", () => {
    const path = join(dir(), 'config');
    writeFileSync(
      path,
      `clusters:
  - { name: a, cluster: { server: "https://a.example:6443/" } }
  - { name: b, cluster: { server: "https://b.example" } }
users:
  - { name: u, user: { token: t-a } }
  - { name: v, user: { token: t-b } }
contexts:
  - { name: ca, context: { cluster: a, user: u } }
  - { name: cb, context: { cluster: b, user: v } }
current-context: cb
`,
    );
    const creds = readKubeconfig(path);
    expect(creds.connectionFor('https://a.example:6443').token?.()).toBe('t-a');
    expect(creds.connectionFor('https://b.example').token?.()).toBe('t-b');
    let err: unknown;
    try {
      creds.connectionFor('https://elsewhere.example');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JitkeyError);
    // The job learns which server is missing; the exchanger's own contexts go to its log.
    expect((err as JitkeyError).message).toBe(
      "no context in the exchanger's JITKEY_KUBECONFIG names the Kubernetes API server https://elsewhere.example: add a context for that server, or fix the role's kubernetes.server",
    );
    expect((err as JitkeyError).detail).toBe(
      `JITKEY_KUBECONFIG (${path}): its contexts name https://a.example:6443 (context 'ca'), https://b.example (context 'cb')`,
    );
    // What `jitkey serve` checks at start and at each reload.
    const provider = createKubernetesProvider({
      connect: (server) => createKubeApi(creds.connectionFor(server)),
    });
    expect(
      provider.check([
        roleFor('https://a.example:6443'),
        { ...roleFor('https://elsewhere.example'), name: 'lost' },
      ]),
    ).toEqual([
      `role 'lost': no context in the exchanger's JITKEY_KUBECONFIG names the Kubernetes API server https://elsewhere.example: add a context for that server, or fix the role's kubernetes.server (JITKEY_KUBECONFIG (${path}): its contexts name https://a.example:6443 (context 'ca'), https://b.example (context 'cb'))`,
    ]);
  });

  it.each([
    ['exec users', 'user: { exec: { command: aws } }', 'exec and auth-provider users are not supported'],
    ['no credentials', 'user: {}', 'its user has no token, tokenFile or client certificate'],
  ])('refuses %s at start', (_name, user, message) => {
    const path = join(dir(), 'config');
    writeFileSync(
      path,
      `clusters: [ { name: a, cluster: { server: "https://a.example" } } ]
users: [ { name: u, ${user} } ]
contexts: [ { name: c, context: { cluster: a, user: u } } ]
`,
    );
    expect(() => readKubeconfig(path)).toThrow(message);
  });

  it('uses the in-cluster service account when JITKEY_KUBECONFIG is unset, for the servers that name its cluster', () => {
    const d = dir();
    writeFileSync(join(d, 'token'), 'in-cluster-token\n');
    writeFileSync(join(d, 'ca.crt'), 'PEM');
    const env = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };
    const listed = kubeCredentialsFromEnv(
      { ...env, JITKEY_IN_CLUSTER_SERVERS: 'https://k8s.acme.example, https://k8s.acme.example:8443/' },
      { inClusterDir: d },
    );
    for (const server of [
      'https://k8s.acme.example',
      'https://k8s.acme.example:8443',
      'https://10.0.0.1',
      'https://kubernetes.default.svc',
    ]) {
      const conn = listed?.connectionFor(server);
      expect(conn?.server).toBe('https://10.0.0.1:443');
      expect(conn?.token?.()).toBe('in-cluster-token');
    }
    // Another server is not this cluster: an error, not the in-cluster connection.
    const plain = kubeCredentialsFromEnv(env, { inClusterDir: d });
    expect(() => plain?.connectionFor('https://k8s.acme.example')).toThrow(
      "the exchanger has only in-cluster credentials, and the Kubernetes API server https://k8s.acme.example is not named as its cluster: add it to the exchanger's JITKEY_IN_CLUSTER_SERVERS if jobs reach this cluster by that address, or fix the role's kubernetes.server",
    );
    expect(() =>
      kubeCredentialsFromEnv({ ...env, JITKEY_IN_CLUSTER_SERVERS: 'k8s.acme.example' }, { inClusterDir: d }),
    ).toThrow(/JITKEY_IN_CLUSTER_SERVERS/);
    expect(kubeCredentialsFromEnv({})).toBeUndefined();
  });

  it('JITKEY_KUBECONFIG, when set, wins over the in-cluster service account', () => {
    const d = dir();
    writeFileSync(join(d, 'token'), 'in-cluster-token\n');
    writeFileSync(join(d, 'ca.crt'), 'PEM');
    const path = join(d, 'config');
    writeFileSync(
      path,
      `clusters: [ { name: a, cluster: { server: "https://a.example" } } ]
users: [ { name: u, user: { token: from-kubeconfig } } ]
contexts: [ { name: c, context: { cluster: a, user: u } } ]
`,
    );
    const creds = kubeCredentialsFromEnv(
      { JITKEY_KUBECONFIG: path, KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' },
      { inClusterDir: d },
    );
    expect(creds?.source).toBe(`JITKEY_KUBECONFIG (${path})`);
    expect(creds?.connectionFor('https://a.example').token?.()).toBe('from-kubeconfig');
  });

  it('is not configured in a pod without a mounted service account (automountServiceAccountToken: false)', () => {
    expect(
      kubeCredentialsFromEnv({ KUBERNETES_SERVICE_HOST: '10.0.0.1' }, { inClusterDir: dir() }),
    ).toBeUndefined();
  });
});

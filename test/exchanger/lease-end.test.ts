/**
 * Ending a lease upstream (`leases/end.ts`): each revoke attempt has a time limit, failed attempts
 * are tried again (3 in all), and the lease's audit row says how it went. Against the Kubernetes
 * API stand-in (Secret deletes that fail) and a provider whose revoke never answers.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeJob } from '../../exchanger/ci-job.js';
import { type EndLeaseDeps, endLease } from '../../exchanger/leases/end.js';
import { newLeaseId } from '../../exchanger/leases/secrets.js';
import { sweepOnce } from '../../exchanger/leases/sweep.js';
import type { Policy, Role } from '../../exchanger/policy/model/types.js';
import { createKubernetesProvider, type KubernetesProvider } from '../../exchanger/providers/kubernetes.js';
import { createKubeApi } from '../../exchanger/providers/kubernetes-api.js';
import { readKubeconfig } from '../../exchanger/providers/kubernetes-config.js';
import type { Provider } from '../../exchanger/providers/types.js';
import type { LeaseRecord } from '../../exchanger/store/leases-types.js';
import { openStore } from '../../exchanger/store/open.js';
import type { Store } from '../../exchanger/store/types.js';
import { type KubernetesStandin, startKubernetesStandin } from '../support/kubernetes-standin.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function kubeRole(server: string): Role {
  return {
    name: 'deploy-web',
    provider: 'kubernetes',
    kubernetes: { server, namespace: 'web', serviceAccount: 'deployer', audiences: [] },
    durationSeconds: 900,
    maxDurationSeconds: 3600,
    allow: [],
    deny: [],
    requireProtectedEnvironment: false,
  };
}

const policyOf = (...roles: Role[]): Policy => ({
  version: 1,
  issuers: [],
  defaults: { durationSeconds: 900, maxDurationSeconds: 3600 },
  admins: { logins: [], teams: [] },
  roles: new Map(roles.map((r) => [r.name, r])),
});

let store: Store;
beforeEach(async () => {
  store = await openStore('sqlite::memory:', { purgeIntervalMs: 0 });
});
afterEach(() => store.close());

/** Records a granted lease as an exchange would. */
async function recordLease(
  id: string,
  role: Role,
  expiresAt: Date,
  job: Partial<LeaseRecord> = { repository: 'acme/web' },
): Promise<LeaseRecord> {
  const lease: LeaseRecord = {
    id,
    role: role.name,
    provider: role.provider,
    createdAt: new Date(),
    expiresAt,
    revokeTokenHash: 'a'.repeat(64),
    ...job,
  };
  await store.record(
    {
      at: lease.createdAt,
      requestId: `req_${id}`,
      event: 'exchange',
      outcome: 'allowed',
      reason: 'granted',
      claims: {},
      leaseId: id,
    },
    lease,
  );
  return lease;
}

async function revokeRow(leaseId: string): Promise<string | undefined> {
  const rows = await store.queryAudit({});
  return rows.find((r) => r.event === 'revoke' && r.leaseId === leaseId)?.reason;
}

describe('endLease against the Kubernetes API stand-in', () => {
  let kube: KubernetesStandin;
  let provider: KubernetesProvider;
  let deps: EndLeaseDeps;
  let role: Role;

  beforeEach(async () => {
    kube = await startKubernetesStandin({ namespaces: { web: ['deployer'] } });
    const creds = readKubeconfig(kube.writeKubeconfig());
    provider = createKubernetesProvider({ connect: (server) => createKubeApi(creds.connectionFor(server)) });
    role = kubeRole(kube.url);
    deps = {
      policy: () => policyOf(role),
      store,
      providers: { kubernetes: provider },
      log: silent,
      now: () => new Date(),
      sleep: async () => {},
    };
  });
  afterEach(async () => {
    provider.close();
    await kube.stop();
  });

  const mintLease = async () => {
    const leaseId = newLeaseId();
    const minted = await provider.mint({
      role,
      claims: { repository: 'acme/web' },
      durationSeconds: 900,
      requestId: 'req_1',
      leaseId,
    });
    const lease = await recordLease(leaseId, role, minted.expiresAt);
    return { lease, minted, token: (minted.credentials as { token: string }).token };
  };

  it('a Secret delete that fails twice is tried again: the third deletes it, and the audit row says so', async () => {
    const { lease, minted, token } = await mintLease();
    kube.failDeletes(2);
    const revoked = await endLease(deps, lease, {
      requestId: 'req_revoke',
      secret: () => minted.revocationSecret!,
      why: '',
      claims: {},
    });
    expect(revoked).toBe(true);
    expect(kube.secrets.size).toBe(0);
    expect(kube.authenticate(token)).toBeUndefined();
    const deletes = kube.requests.filter((r) => r.method === 'DELETE').map((r) => r.status);
    expect(deletes).toEqual([500, 500, 200]);
    expect(await revokeRow(lease.id)).toBe('lease revoked (revoked upstream at attempt 3)');
    expect((await store.getLease(lease.id))?.revokedAt).toBeInstanceOf(Date);
  });

  it('three failures: the lease is marked revoked, its audit row says so, and the next sweep deletes the Secret', async () => {
    const { lease, minted, token } = await mintLease();
    kube.failDeletes(3);
    const revoked = await endLease(deps, lease, {
      requestId: 'req_revoke',
      secret: () => minted.revocationSecret!,
      why: ': workflow run completed',
      claims: {},
    });
    expect(revoked).toBe(false);
    expect(kube.authenticate(token)).toBe('system:serviceaccount:web:deployer');
    expect(await revokeRow(lease.id)).toBe(
      'lease revoked: workflow run completed (upstream revocation failed after 3 attempts; the lease sweep tries again)',
    );
    expect((await store.getLease(lease.id))?.revokedAt).toBeInstanceOf(Date);
    // The lease is still live by its end, but the store says revoked: the sweep finishes the job.
    await sweepOnce(deps);
    expect(kube.secrets.size).toBe(0);
    expect(kube.authenticate(token)).toBeUndefined();
  });
});

describe('endLease with an upstream that never answers', () => {
  it('gives each attempt its time limit, then marks the lease revoked and says so', async () => {
    let calls = 0;
    const hung: Provider = {
      name: 'github',
      mint: async () => {
        throw new Error('unused');
      },
      revoke: () => {
        calls++;
        return new Promise<void>(() => {});
      },
    };
    const role: Role = { ...kubeRole('https://unused.example'), provider: 'github', kubernetes: undefined };
    const lease = await recordLease(newLeaseId(), role, new Date(Date.now() + 3_600_000));
    const revoked = await endLease(
      {
        policy: () => policyOf(role),
        store,
        providers: { github: hung },
        log: silent,
        now: () => new Date(),
        sleep: async () => {},
        revokeAttemptMs: 20,
      },
      lease,
      { requestId: 'req_revoke', secret: () => 'ghs_secret', why: '', claims: {} },
    );
    expect(revoked).toBe(false);
    expect(calls).toBe(3);
    expect(await revokeRow(lease.id)).toBe(
      'lease revoked (upstream revocation failed after 3 attempts; it expires on its own)',
    );
  });
});

describe("the revoke row names the lease's job in its own system's terms", () => {
  const role: Role = { ...kubeRole('https://unused.example'), provider: 'github', kubernetes: undefined };
  // As the job's post step would end it: with GitHub's run claim, which another system's row drops.
  const end = async (job: Partial<LeaseRecord>) => {
    const lease = await recordLease(newLeaseId(), role, new Date(Date.now() + 3_600_000), job);
    const deps = { policy: () => policyOf(role), store, providers: {}, log: silent, now: () => new Date() };
    await endLease(deps, lease, {
      requestId: 'req_end',
      secret: undefined,
      why: '',
      claims: { run_id: job.runId! },
    });
    const rows = await store.queryAudit({});
    return rows.find((r) => r.event === 'revoke' && r.leaseId === lease.id)!.claims;
  };

  it('a GitLab pipeline by instance, project and pipeline', async () => {
    const claims = await end({
      repository: 'my-group/my-project',
      repositoryId: 'gitlab:https://gitlab.example.com/projects/20',
      runId: '574',
      runAttempt: '1',
    });
    expect(claims).toEqual({
      iss: 'https://gitlab.example.com',
      project_id: '20',
      project_path: 'my-group/my-project',
      pipeline_id: '574',
    });
    expect(describeJob(claims)).toBe('GitLab CI/CD my-group/my-project pipeline 574');
  });

  it('a Buildkite build by organization, pipeline and build number', async () => {
    const claims = await end({
      repository: 'acme-inc/deploy',
      repositoryId: 'buildkite:acme-inc/deploy',
      runId: '12',
      runAttempt: '1',
    });
    expect(claims).toEqual({ organization_slug: 'acme-inc', pipeline_slug: 'deploy', build_number: '12' });
    expect(describeJob(claims)).toBe('Buildkite acme-inc/deploy build 12');
  });

  it('a GitHub run as before: its repository and run', async () => {
    const claims = await end({ repository: 'acme/web', repositoryId: '123456', runId: '9', runAttempt: '1' });
    expect(claims).toEqual({ repository: 'acme/web', run_id: '9' });
  });
});

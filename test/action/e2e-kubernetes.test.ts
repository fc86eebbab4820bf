/**
 * The built Action against `jitkey serve` for a Kubernetes role, with the Kubernetes API stand-in:
 * the kubeconfig lands in RUNNER_TEMP (0600), works with real clients (@kubernetes/client-node, and
 * kubectl when installed: skipped without it), and stops working the moment the post step revokes
 * the lease.
 */
import { copyFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretName } from '../../exchanger/providers/kubernetes.js';
import { clientNodeProbe, findKubectl, kubectl } from '../support/kube-clients.js';
import { type KubernetesJob, kubernetesRole, startKubernetesJob } from '../support/kubernetes-job.js';
import type { KubernetesStandin } from '../support/kubernetes-standin.js';
import { assertMaskedFirst, assertNoLeaks, errors, log, runMain, runPost } from '../support/runner.js';
import { policyFor, type Stack } from '../support/stack.js';
import type { TokenEndpoint } from '../support/token-endpoint.js';

const roles = (server: string, ca: string) =>
  kubernetesRole('deploy-k8s', server, ca) + kubernetesRole('k8s-nowhere', server, ca, 'nowhere');

const KUBECTL = findKubectl();
const OLD_LEASE = 'lease_01J0LDLEASEENDEDWHILEDOWN0';

let kube: KubernetesStandin;
let stack: Stack;
let tokens: TokenEndpoint;

let job: KubernetesJob | undefined;

beforeAll(async () => {
  job = await startKubernetesJob(roles, async (k, store) => {
    // A lease that ended while no exchanger ran: the start-up sweep must delete its Secret.
    const ended = new Date(Date.now() - 60_000);
    await store.record(
      {
        at: ended,
        requestId: 'req_old',
        event: 'exchange',
        outcome: 'allowed',
        reason: 'granted',
        claims: {},
      },
      {
        id: OLD_LEASE,
        role: 'deploy-k8s',
        provider: 'kubernetes',
        createdAt: new Date(ended.getTime() - 900_000),
        expiresAt: ended,
        revokeTokenHash: 'a'.repeat(64),
      },
    );
    k.secrets.set(`web/${secretName(OLD_LEASE)}`, {
      namespace: 'web',
      name: secretName(OLD_LEASE),
      uid: 'old',
      labels: { 'app.kubernetes.io/managed-by': 'jitkey' },
      annotations: { 'jitkey.dev/lease-id': OLD_LEASE, 'jitkey.dev/expires-at': ended.toISOString() },
    });
  });
  ({ kube, stack, tokens } = job);
}, 60_000);
afterAll(async () => {
  await job?.stop();
});

describe('e2e: the Action against jitkey serve (Kubernetes)', () => {
  it('the exchanger sweeps Secrets of leases that ended while it was down, at start', async () => {
    await expect
      .poll(() => kube.secrets.has(`web/${secretName(OLD_LEASE)}`), { timeout: 20_000 })
      .toBe(false);
  });

  it('writes a 0600 kubeconfig in RUNNER_TEMP, exports KUBECONFIG, masks the token; revoke kills it at once', async () => {
    const main = await runMain({
      inputs: { 'exchanger-url': stack.exchanger.url, role: 'deploy-k8s', 'output-credentials': 'true' },
      env: { ...tokens.env, GITHUB_REPOSITORY: 'acme/web', GITHUB_RUN_ID: '1' },
    });
    expect(errors(main), log(main)).toEqual([]);
    const issued = kube.issued.at(-1)!;
    const path = main.outputs['kubeconfig-path']!;
    expect(path).toBe(`${main.stepEnv.RUNNER_TEMP}/jitkey-${main.outputs['lease-id']}.kubeconfig`);
    expect(main.env).toEqual({ KUBECONFIG: path });
    expect(main.outputs).toMatchObject({ provider: 'kubernetes', 'kubernetes-token': issued.token });
    expect(main.workspaceFiles).toEqual([]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(dirname(path)).toBe(main.stepEnv.RUNNER_TEMP);
    const config = JSON.parse(readFileSync(path, 'utf8'));
    expect(config.clusters[0].cluster).toEqual({
      server: kube.url,
      'certificate-authority-data': kube.caData,
    });
    expect(config.contexts[0].context.namespace).toBe('web');
    expect(config.users[0].user).toEqual({ token: issued.token });

    const secrets = {
      k8sToken: issued.token,
      revokeToken: main.state.revoke_token!,
      oidc: tokens.issued.at(-1)!,
    };
    assertMaskedFirst(main, Object.values(secrets));
    assertNoLeaks(main, secrets, { outputs: ['kubernetes-token'], state: ['revoke_token'] });
    expect(main.summary).toContain('| Provider | kubernetes |');

    const beforeClient = await clientNodeProbe(path);
    // Kept: the post step deletes the file, and the point is that the token itself is dead.
    const copy = `${path}.copy`;
    copyFileSync(path, copy);

    const post = await runPost(main);
    expect(post.exitCode, log(post)).toBe(0);
    expect(post.commands.filter((c) => c.command === 'warning')).toEqual([]);
    expect(existsSync(path)).toBe(false);
    expect(post.env).toEqual({ KUBECONFIG: '' });
    expect(kube.secrets.size).toBe(0);
    expect(kube.authenticate(issued.token)).toBeUndefined();
    assertNoLeaks(post, secrets);

    // @kubernetes/client-node read the Action's kubeconfig and used the token, as a deploy script
    // would; the same token is refused right after the post step.
    expect(JSON.parse(beforeClient.out)).toEqual({
      version: 'v1.31.0-jitkey-standin',
      user: 'system:serviceaccount:web:deployer',
      configMaps: ['app-config'],
    });
    try {
      expect(await clientNodeProbe(copy)).toEqual({ ok: false, out: JSON.stringify({ error: 401 }) });
    } finally {
      rmSync(copy, { force: true });
    }
  });

  // Only when kubectl is on PATH (CI machines may not have it): without it, reported as skipped.
  it.runIf(KUBECTL)('kubectl: accepted before revoke, refused (401) right after', async () => {
    const bin = KUBECTL!;
    const main = await runMain({
      inputs: { 'exchanger-url': stack.exchanger.url, role: 'deploy-k8s' },
      env: { ...tokens.env, GITHUB_REPOSITORY: 'acme/web', GITHUB_RUN_ID: '2' },
    });
    expect(errors(main), log(main)).toEqual([]);
    const path = main.env.KUBECONFIG!;
    const copy = `${path}.copy`;
    // Keep a copy: the post step deletes the file, and the point is that the token itself is dead.
    copyFileSync(path, copy);
    try {
      expect(
        await kubectl(bin, copy, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']),
      ).toEqual({
        ok: true,
        out: 'system:serviceaccount:web:deployer',
      });
      expect(await kubectl(bin, copy, ['get', 'configmaps', '-o', 'name'])).toEqual({
        ok: true,
        out: 'configmap/app-config',
      });
      expect((await runPost(main)).exitCode).toBe(0);
      const after = await kubectl(bin, copy, ['get', 'configmaps', '-o', 'name']);
      expect(after.ok).toBe(false);
      expect(after.out).toMatch(/Unauthorized|provide credentials/);
    } finally {
      rmSync(copy, { force: true });
    }
  });

  it('an unknown namespace is a 502 that names it', async () => {
    const res = await stack.exchange(stack.idp.mint(), { role: 'k8s-nowhere' });
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({
      error: 'upstream_error',
      message: `namespace 'nowhere' does not exist on ${kube.url}: create it or fix the role's namespace`,
    });
  });

  it('revoke deletes the Secret even after the role left the policy (SIGHUP)', async () => {
    const grant = await stack.exchange(stack.idp.mint(), { role: 'deploy-k8s' });
    expect(grant.status, JSON.stringify(grant.body)).toBe(200);
    expect(Object.keys(grant.body.credentials).sort()).toEqual([
      'ca_data',
      'expires_at',
      'namespace',
      'server',
      'token',
    ]);
    const token = grant.body.credentials.token as string;
    expect(kube.authenticate(token)).toBe('system:serviceaccount:web:deployer');

    const original = readFileSync(stack.exchanger.policyPath, 'utf8');
    // Asking for far more than max_duration mints nothing: 400 says whether the role is still known.
    const roleState = async () => {
      const res = await stack.exchange(stack.idp.mint(), { role: 'deploy-k8s', duration_seconds: 10 ** 6 });
      return String(res.body.message).startsWith('unknown role') ? 'gone' : 'known';
    };
    writeFileSync(stack.exchanger.policyPath, policyFor(stack.idp.url));
    stack.exchanger.signal('SIGHUP');
    try {
      await expect.poll(roleState, { timeout: 20_000 }).toBe('gone');
      const res = await stack.post('/v1/revoke', {
        lease_id: grant.body.lease_id,
        revoke_token: grant.body.revoke_token,
      });
      expect(res.status).toBe(204);
      expect(kube.authenticate(token)).toBeUndefined();
      expect([...kube.secrets.keys()]).toEqual([]);
    } finally {
      writeFileSync(stack.exchanger.policyPath, original);
      stack.exchanger.signal('SIGHUP');
      await expect.poll(roleState, { timeout: 20_000 }).toBe('known');
    }
  });

  it('TokenRequest forbidden: 502 naming the RBAC verb and resource; no Secret left behind', async () => {
    kube.forbid('create', 'serviceaccounts/token');
    const res = await stack.exchange(stack.idp.mint(), { role: 'deploy-k8s' });
    expect(res.status).toBe(502);
    expect(res.body.message).toContain(
      "lacks RBAC permission 'create' on 'serviceaccounts/token' in namespace 'web'",
    );
    expect(kube.secrets.size).toBe(0);
    expect(stack.exchanger.output()).not.toContain(kube.exchangerToken);
  });
});

/**
 * `refresh: true` on a Kubernetes role, end to end: the built Action against `jitkey serve` and the
 * Kubernetes API stand-in writes a kubeconfig whose exec user asks the credentials agent (dist/agent)
 * for the token. @kubernetes/client-node (on the Node 24 binary) and kubectl (in a test of its own,
 * skipped when it is not installed) use it before and after a renewal (moved to 0.5 % of the 600 s lease by JITKEY_AGENT_RENEW_AT, i.e. 3 s);
 * after the post step the plugin fails clearly and every token is rejected by the stand-in.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { clientNodeProbe, findKubectl, kubectl, NODE24 } from '../support/kube-clients.js';
import { type KubernetesJob, kubernetesRole, startKubernetesJob } from '../support/kubernetes-job.js';
import type { KubernetesStandin } from '../support/kubernetes-standin.js';
import { REPO_ROOT } from '../support/paths.js';
import {
  actionNodes,
  actionRunner,
  assertMaskedFirst,
  assertNoLeaks,
  errors,
  log,
  runMain,
  runPost,
} from '../support/runner.js';
import type { Stack } from '../support/stack.js';
import type { TokenEndpoint } from '../support/token-endpoint.js';

const roles = (server: string, ca: string) => kubernetesRole('deploy-k8s', server, ca);

const KUBECTL = findKubectl();
const USER = 'system:serviceaccount:web:deployer';

let kube: KubernetesStandin;
let stack: Stack;
let tokens: TokenEndpoint;

let job: KubernetesJob | undefined;

beforeAll(async () => {
  job = await startKubernetesJob(roles);
  ({ kube, stack, tokens } = job);
}, 60_000);
afterAll(async () => {
  await job?.stop();
});

interface ExecUser {
  apiVersion: string;
  command: string;
  args: string[];
  env: { name: string; value: string }[];
  interactiveMode: string;
  provideClusterInfo: boolean;
}

/** Runs the kubeconfig's exec plugin exactly as kubectl does: its command, args and env entries. */
function runPlugin(exec: ExecUser): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
  for (const { name, value } of exec.env) env[name] = value;
  return new Promise((resolve) => {
    execFile(exec.command, exec.args, { env, timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const until = <T>(what: string, probe: () => Promise<T | undefined> | T | undefined) =>
  eventually(probe, what, 600);

const whoami = ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'];

// The plugin's command is the node that ran the Action: run it under both (the runner uses node24).
describe.each(actionNodes())(
  'refresh: true on a Kubernetes role (exec credential plugin), on $name',
  (node) => {
    const { runMain, runPost } = actionRunner(node.path);
    it('client-node gets the token from the agent, the renewed one after a renewal; nothing works after post', async () => {
      const main = await runMain({
        inputs: {
          'exchanger-url': stack.exchanger.url,
          role: 'deploy-k8s',
          duration: '600',
          refresh: 'true',
        },
        env: {
          ...tokens.env,
          GITHUB_REPOSITORY: 'acme/web',
          GITHUB_RUN_ID: `11${node.name.replace(/\D/g, '')}`,
          JITKEY_AGENT_RENEW_AT: '0.005',
        },
      });
      expect(errors(main), log(main)).toEqual([]);
      const first = kube.issued.at(-1)!.token;
      const issuedAtStart = kube.issued.length;
      const path = main.env.KUBECONFIG!;
      expect(main.env).toEqual({ KUBECONFIG: path });
      expect(path).toBe(`${main.stepEnv.RUNNER_TEMP}/jitkey-${main.outputs['lease-id']}.kubeconfig`);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(main.workspaceFiles).toEqual([]);
      const bearer = main.state.agent_token!;
      const origin = main.state.agent_origin!;

      const text = readFileSync(path, 'utf8');
      // No token in the file: the plugin asks the agent each time.
      expect(text).not.toContain(first);
      const config = JSON.parse(text);
      const exec = config.users[0].user.exec as ExecUser;
      expect(Object.keys(config.users[0].user)).toEqual(['exec']);
      expect(exec).toMatchObject({
        apiVersion: 'client.authentication.k8s.io/v1',
        command: node.path,
        args: [join(REPO_ROOT, 'dist/agent/index.js'), 'exec-credential'],
        env: [
          { name: 'JITKEY_AGENT_URL', value: origin },
          { name: 'JITKEY_AGENT_TOKEN', value: bearer },
        ],
        interactiveMode: 'Never',
        provideClusterInfo: false,
      });
      const copy = `${path}.copy`;
      copyFileSync(path, copy);
      try {
        const before = await runPlugin(exec);
        expect(before.code, before.stderr).toBe(0);
        expect(JSON.parse(before.stdout)).toEqual({
          apiVersion: 'client.authentication.k8s.io/v1',
          kind: 'ExecCredential',
          status: {
            token: first,
            expirationTimestamp: main.outputs['expires-at']!.replace(/\.\d+Z$/, 'Z'),
          },
        });
        expect((await clientNodeProbe(path)).ok).toBe(true);

        // The renewal: a second TokenRequest, served by the agent from then on.
        const second = await until('a renewal', () =>
          kube.issued.length > issuedAtStart ? kube.issued.at(-1)!.token : undefined,
        );
        expect(second).not.toBe(first);
        await until('the renewed token from the plugin', async () => {
          const r = await runPlugin(exec);
          return r.code === 0 && JSON.parse(r.stdout).status.token === second ? true : undefined;
        });
        // Kill the first lease's token: from here on, a client that succeeds used the renewed one.
        const revoked = await stack.post('/v1/revoke', {
          lease_id: main.outputs['lease-id'],
          revoke_token: main.state.revoke_token,
        });
        expect(revoked.status).toBe(204);
        expect(kube.authenticate(first)).toBeUndefined();
        expect(kube.authenticate(second)).toBe(USER);
        expect(JSON.parse((await clientNodeProbe(path)).out)).toEqual({
          version: 'v1.31.0-jitkey-standin',
          user: USER,
          configMaps: ['app-config'],
        });

        const post = await runPost(main);
        expect(post.exitCode, log(post)).toBe(0);
        expect(log(post)).toMatch(
          /stopped the credentials agent after \d+ renewal\(s\); revoked \d+ renewed lease\(s\)/,
        );
        expect(existsSync(path)).toBe(false);
        expect(post.env).toEqual({ KUBECONFIG: '' });
        expect(kube.secrets.size).toBe(0);
        expect(kube.authenticate(second)).toBeUndefined();

        // The kept copy: the plugin now fails with a reason, and so do the clients.
        const after = await runPlugin(exec);
        expect(after.code).toBe(1);
        expect(after.stdout).toBe('');
        expect(after.stderr).toMatch(
          /^jitkey: the credentials agent at http:\/\/127\.0\.0\.1:\d+ did not answer \(.*ECONNREFUSED.*\); it runs only between this job's jitkey step and its post step/,
        );
        expect((await clientNodeProbe(copy)).ok).toBe(false);

        const secrets = {
          first,
          second,
          bearer,
          revokeToken: main.state.revoke_token!,
          oidc: tokens.issued.at(-1)!,
        };
        assertMaskedFirst(main, [bearer, first]);
        assertNoLeaks(main, secrets, { state: ['agent_token', 'revoke_token'] });
        assertNoLeaks(post, secrets);
      } finally {
        rmSync(copy, { force: true });
      }
    });
  },
);

// Only when kubectl is on PATH (CI machines may not have it): without it, reported as skipped. Once,
// under the runner's Node: the plugin is the same as for client-node above.
it.runIf(KUBECTL)(
  'kubectl gets the token from the agent, the renewed one after a renewal; nothing works after post',
  async () => {
    const bin = KUBECTL!;
    const { runMain, runPost } = actionRunner(NODE24);
    const main = await runMain({
      inputs: { 'exchanger-url': stack.exchanger.url, role: 'deploy-k8s', duration: '600', refresh: 'true' },
      env: {
        ...tokens.env,
        GITHUB_REPOSITORY: 'acme/web',
        GITHUB_RUN_ID: '13',
        JITKEY_AGENT_RENEW_AT: '0.005',
      },
    });
    expect(errors(main), log(main)).toEqual([]);
    const first = kube.issued.at(-1)!.token;
    const issuedAtStart = kube.issued.length;
    const path = main.env.KUBECONFIG!;
    const copy = `${path}.copy`;
    copyFileSync(path, copy);
    try {
      expect(await kubectl(bin, path, whoami)).toEqual({ ok: true, out: USER });
      await until('a renewal', () => (kube.issued.length > issuedAtStart ? true : undefined));
      const revoked = await stack.post('/v1/revoke', {
        lease_id: main.outputs['lease-id'],
        revoke_token: main.state.revoke_token,
      });
      expect(revoked.status).toBe(204);
      expect(kube.authenticate(first)).toBeUndefined();
      // The first token is dead: kubectl succeeds only with the renewed one, once the agent serves it.
      await until('kubectl with the renewed token', async () =>
        (await kubectl(bin, path, whoami)).ok ? true : undefined,
      );
      expect(await kubectl(bin, path, ['get', 'configmaps', '-o', 'name'])).toEqual({
        ok: true,
        out: 'configmap/app-config',
      });
      expect((await runPost(main)).exitCode).toBe(0);
      const refused = await kubectl(bin, copy, whoami);
      expect(refused.ok).toBe(false);
      expect(refused.out).toContain('jitkey: the credentials agent at');
    } finally {
      rmSync(copy, { force: true });
    }
  },
);

describe('the agent of a Kubernetes lease', () => {
  it('refuses the exec-credential endpoint without its bearer', async () => {
    const main = await runMain({
      inputs: { 'exchanger-url': stack.exchanger.url, role: 'deploy-k8s', duration: '600', refresh: 'true' },
      env: { ...tokens.env, GITHUB_REPOSITORY: 'acme/web', GITHUB_RUN_ID: '12' },
    });
    expect(errors(main), log(main)).toEqual([]);
    const url = `${main.state.agent_origin}/kubernetes/exec-credential`;
    expect((await fetch(url)).status).toBe(401);
    const wrong = await fetch(url, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { message: string }).message).toContain('JITKEY_AGENT_TOKEN');
    const ok = await fetch(url, { headers: { authorization: `Bearer ${main.state.agent_token}` } });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { status: { token: string } }).status.token).toBe(kube.issued.at(-1)!.token);
    expect((await runPost(main)).exitCode).toBe(0);
    expect(kube.secrets.size).toBe(0);
  });
});

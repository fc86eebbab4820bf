/**
 * What the Action's Kubernetes end-to-end tests share: the Kubernetes API stand-in (TLS, namespace
 * `web` with service account `deployer`), `jitkey serve` with `roles(server, ca)` and
 * JITKEY_KUBECONFIG pointing at the stand-in, and the runner's OIDC token endpoint.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../exchanger/store/open.js';
import type { Store } from '../../exchanger/store/types.js';
import { type KubernetesStandin, startKubernetesStandin } from './kubernetes-standin.js';
import { policyFor, type Stack, startStack } from './stack.js';
import { startTokenEndpoint, type TokenEndpoint } from './token-endpoint.js';

/** A policy role for the stand-in's `deployer` service account in `namespace`. */
export const kubernetesRole = (name: string, server: string, ca: string, namespace = 'web') => `  ${name}:
    provider: kubernetes
    kubernetes: { server: "${server}", ca_data: "${ca}", namespace: ${namespace}, service_account: deployer }
    allow:
      - repository_id: "123456"
`;

export interface KubernetesJob {
  kube: KubernetesStandin;
  stack: Stack;
  tokens: TokenEndpoint;
  stop(): Promise<void>;
}

export async function startKubernetesJob(
  roles: (server: string, ca: string) => string,
  /**
   * Runs before the exchanger starts, with the stand-in and the exchanger's (SQLite) store: e.g. to
   * plant the Secret and the lease of a lease that ended while no exchanger ran.
   */
  seed?: (kube: KubernetesStandin, store: Store) => Promise<void>,
): Promise<KubernetesJob> {
  const kube = await startKubernetesStandin({ namespaces: { web: ['deployer'] }, tls: true });
  let stack: Stack | undefined;
  let tokens: TokenEndpoint;
  try {
    const path = join(mkdtempSync(join(tmpdir(), 'jitkey-kube-job-')), 'jitkey.db');
    if (seed) {
      const store = await openStore(`sqlite:${path}`, { purgeIntervalMs: 0 });
      await seed(kube, store).finally(() => store.close());
    }
    const started = await startStack({
      policy: (issuer) => policyFor(issuer, roles(kube.url, kube.caData!)),
      exchanger: { env: { JITKEY_KUBECONFIG: kube.writeKubeconfig() }, store: `sqlite:${path}` },
    });
    stack = started;
    tokens = await startTokenEndpoint({ token: (aud) => started.idp.mint({ aud }) });
  } catch (e) {
    // A half-started job would keep its servers and the exchanger process alive.
    await stack?.stop();
    await kube.stop();
    throw e;
  }
  const running = stack;
  return {
    kube,
    stack: running,
    tokens,
    async stop() {
      await tokens.stop();
      await running.stop();
      await kube.stop();
    },
  };
}

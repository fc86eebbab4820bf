/**
 * What the Action's Kubernetes end-to-end tests share: the Kubernetes API stand-in (TLS, namespace
 * `web` with service account `deployer`), `jitkey serve` with `roles(server, ca)` and
 * JITKEY_KUBECONFIG pointing at the stand-in, and the runner's OIDC token endpoint.
 */
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
  /** Runs before the exchanger starts (e.g. to plant Secrets its start-up sweep must find). */
  seed: (kube: KubernetesStandin) => void = () => {},
): Promise<KubernetesJob> {
  const kube = await startKubernetesStandin({ namespaces: { web: ['deployer'] }, tls: true });
  let stack: Stack | undefined;
  let tokens: TokenEndpoint;
  try {
    seed(kube);
    const started = await startStack({
      policy: (issuer) => policyFor(issuer, roles(kube.url, kube.caData!)),
      exchanger: { env: { JITKEY_KUBECONFIG: kube.writeKubeconfig() } },
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

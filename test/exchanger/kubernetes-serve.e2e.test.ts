/**
 * `jitkey serve` with Kubernetes roles and JITKEY_KUBECONFIG (issue 24, item 11c): a role whose
 * server no context of the exchanger's kubeconfig names stops the start, naming the role, the
 * server and the contexts there are. It used to start and mint such roles through the current
 * context, in whatever cluster that is.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/exchanger-process.js';
import { type KubernetesStandin, startKubernetesStandin } from '../support/kubernetes-standin.js';

let kube: KubernetesStandin;
beforeAll(async () => {
  kube = await startKubernetesStandin({ namespaces: { web: ['deployer'] } });
});
afterAll(() => kube?.stop());

const policy = (server: string) => `version: 1
issuers:
  - url: https://token.actions.githubusercontent.com
    audience: jitkey
roles:
  deploy-k8s:
    provider: kubernetes
    kubernetes: { server: "${server}", namespace: web, service_account: deployer }
    allow:
      - repository_id: "123456"
`;

describe('jitkey serve, a kubernetes role and JITKEY_KUBECONFIG', () => {
  it("refuses to start when no kubeconfig context names the role's server", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-kserve-'));
    const file = join(dir, 'policy.yaml');
    // Loopback, so the policy needs no ca_data; the stand-in's kubeconfig names another port.
    const elsewhere = 'http://127.0.0.1:1';
    writeFileSync(file, policy(elsewhere));
    const kubeconfig = kube.writeKubeconfig();
    const { code, stderr } = await runCli(
      ['serve', '--policy', file, '--workers', '1', '--port', '0', '--store', 'sqlite::memory:'],
      { JITKEY_KUBECONFIG: kubeconfig },
    );
    expect(code).not.toBe(0);
    expect(stderr).toContain(
      `role 'deploy-k8s': no context in the exchanger's JITKEY_KUBECONFIG names the Kubernetes API server ${elsewhere}`,
    );
    expect(stderr).toContain(`its contexts name ${kube.url} (context 'standin')`);
  });
});

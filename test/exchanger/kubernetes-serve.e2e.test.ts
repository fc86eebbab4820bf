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
import { runCli, startExchanger } from '../support/exchanger-process.js';
import { type KubernetesStandin, startKubernetesStandin } from '../support/kubernetes-standin.js';
import { type OidcIssuer, startOidcIssuer } from '../support/oidc-issuer.js';

let kube: KubernetesStandin;
let idp: OidcIssuer;
beforeAll(async () => {
  kube = await startKubernetesStandin({ namespaces: { web: ['deployer'] } });
  idp = await startOidcIssuer();
});
afterAll(async () => {
  await kube?.stop();
  await idp?.stop();
});

const policy = (server: string) => `version: 1
issuers:
  - url: ${idp.url}
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

  it('refuses a reload that brings such a role, and keeps the policy in force', async () => {
    const ex = await startExchanger({
      policy: policy(kube.url),
      env: { JITKEY_KUBECONFIG: kube.writeKubeconfig() },
      args: ['--workers', '1'],
    });
    try {
      writeFileSync(ex.policyPath, policy('http://127.0.0.1:1'));
      ex.signal('SIGHUP');
      await expect.poll(() => ex.output().includes('policy reload refused'), { timeout: 20_000 }).toBe(true);
      expect(ex.output()).toContain(
        "role 'deploy-k8s': no context in the exchanger's JITKEY_KUBECONFIG names the Kubernetes API server http://127.0.0.1:1",
      );
      expect(ex.output()).not.toContain('policy reloaded');
    } finally {
      await ex.stop();
    }
  });
});

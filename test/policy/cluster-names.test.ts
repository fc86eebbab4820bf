/**
 * One cluster, several addresses: in-cluster, the exchanger reaches its own cluster by the service
 * address, `https://kubernetes.default.svc` and `JITKEY_IN_CLUSTER_SERVERS` alike. Team scopes and
 * guardrail selectors compare them as one cluster (`ClusterNames`), so a team whose scope names
 * one address cannot reach another team's namespace by writing another.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAside } from '../../exchanger/cli/policy-aside.js';
import { livePolicy } from '../../exchanger/cli/serve-policy.js';
import { silentLogger } from '../../exchanger/log.js';
import { evaluate } from '../../exchanger/policy/evaluate/evaluate.js';
import { checkDirectory } from '../../exchanger/policy/lint/check.js';
import { compileDirectory, validateDirectory } from '../../exchanger/policy/load/directory.js';
import { loadPolicyFile } from '../../exchanger/policy/load/load-policy.js';
import { formatIssue } from '../../exchanger/policy/model/errors.js';
import type { ClusterNames } from '../../exchanger/policy/validate/resources.js';
import { clusterNamesForTools, clusterNamesFromEnv } from '../../exchanger/providers/kubernetes-config.js';
import { createMetrics } from '../../exchanger/server/metrics.js';

// Loopback servers need no ca_data; which addresses are one cluster is the test's to say.
const SERVICE = 'http://127.0.0.1:6443';
const OUTSIDE = 'http://[::1]:6443';
const ONE_CLUSTER: ClusterNames = [[SERVICE, OUTSIDE]];

/** web's scope: every namespace of what its platform team took for another cluster, or the given ones. */
const org = (webNamespaces = '"*"') => `version: 1
issuers:
  - { url: https://token.actions.githubusercontent.com, audience: jitkey }
teams:
  web:
    resources:
      kubernetes: { clusters: ["${OUTSIDE}"], namespaces: [${webNamespaces}] }
  payments:
    resources:
      kubernetes: { clusters: ["${SERVICE}"], namespaces: [payments] }
guardrails:
  - name: payments-cluster-hosted-only
    applies_to: { kubernetes: { clusters: ["${SERVICE}"] } }
    deny:
      - runner_environment: self-hosted
`;

function teamFile(owners: string, role: string, server: string, namespace: string): string {
  return `version: 1
owners: ["${owners}"]
roles:
  ${role}:
    provider: kubernetes
    kubernetes: { server: "${server}", namespace: ${namespace}, service_account: deploy }
    allow:
      - { repository: ${owners.replace('*', 'app')}, repository_id: "1", ref: refs/heads/main }
`;
}

function files(webServer: string, webNamespace: string, webNamespaces?: string) {
  return [
    { name: 'org.yaml', file: 'org/org.yaml', text: org(webNamespaces) },
    {
      name: 'payments.yaml',
      file: 'org/payments.yaml',
      text: teamFile('acme/payments-*', 'pay', SERVICE, 'payments'),
    },
    { name: 'web.yaml', file: 'org/web.yaml', text: teamFile('acme/web-*', 'web', webServer, webNamespace) },
  ];
}

const errors = (f: ReturnType<typeof files>, clusters: ClusterNames) =>
  validateDirectory('org', f, { clusters }).issues.map((i) => formatIssue(i));

describe('team scopes compare the addresses of one cluster as one', () => {
  it("refuses a team's role in another team's namespace by another address of the cluster", () => {
    const webInPayments = files(OUTSIDE, 'payments');
    // Told nothing of the addresses, the loader sees two clusters (what jitkey check sees).
    expect(errors(webInPayments, [])).toEqual([]);
    // Both teams' roles, now that their scopes are seen to overlap on one cluster.
    const twoTeams =
      'two teams may grant one resource only when org/org.yaml lists it under shared: with both teams';
    expect(errors(webInPayments, ONE_CLUSTER)).toEqual([
      `org/payments.yaml:6:63: roles.pay.kubernetes.namespace: '${SERVICE} payments/deploy' is also in team 'web' resources (org/org.yaml:6:5); ${twoTeams}`,
      `org/web.yaml:6:59: roles.web.kubernetes.namespace: '${OUTSIDE} payments/deploy' is also in team 'payments' resources (org/org.yaml:9:5); ${twoTeams}`,
    ]);
  });

  it("holds a team's own namespace by any address of its cluster", () => {
    const webByService = files(SERVICE, 'web', 'web');
    expect(errors(webByService, [])).toEqual([
      `org/web.yaml:6:63: roles.web.kubernetes.namespace: '${SERVICE} web/deploy' is outside team 'web' resources in org/org.yaml: teams.web.resources.kubernetes (clusters ${OUTSIDE}; namespaces web); grant a resource of the team's, or have the platform team add it to teams.web.resources.kubernetes`,
    ]);
    expect(errors(webByService, ONE_CLUSTER)).toEqual([]);
  });

  it('a guardrail on one address selects roles that name another', () => {
    // web's own namespace, by the address the guardrail does not name.
    const f = files(OUTSIDE, 'web', 'web');
    const guardrailsOf = (clusters: ClusterNames) => {
      const { org, teams, issues } = validateDirectory('org', f, { clusters });
      expect(issues).toEqual([]);
      const policy = compileDirectory('org', org!, teams);
      return policy.roles.get('web')?.guardrails?.map((g) => g.name) ?? [];
    };
    expect(guardrailsOf([])).toEqual([]);
    expect(guardrailsOf(ONE_CLUSTER)).toEqual(['payments-cluster-hosted-only']);
  });

  it('jitkey serve hands the loader the names (loadAside, the path a start and a reload take)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-clusters-'));
    for (const f of files(OUTSIDE, 'payments')) writeFileSync(join(dir, f.name), f.text);
    await expect(loadAside({ path: dir }, [])).resolves.toMatchObject({ roles: 2 });
    await expect(loadAside({ path: dir }, ONE_CLUSTER)).rejects.toThrow(
      /is also in team 'payments' resources/,
    );
  });

  it('a reload (livePolicy.stage) is judged with the names serve was started with', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-clusters-'));
    for (const f of files(OUTSIDE, 'web', 'web')) writeFileSync(join(dir, f.name), f.text);
    const live = livePolicy(await loadAside({ path: dir }, ONE_CLUSTER), {
      path: dir,
      env: {},
      log: silentLogger,
      providers: {},
      github: undefined,
      metrics: createMetrics(),
      clusters: ONE_CLUSTER,
    });
    // web's role moves into payments' namespace by the other address: refused, the old one stays.
    for (const f of files(OUTSIDE, 'payments')) writeFileSync(join(dir, f.name), f.text);
    await expect(live.stage()).rejects.toThrow(/is also in team 'payments' resources/);
  });
});

describe('jitkey explain, test and check judge as jitkey serve does, given the names', () => {
  it('loadPolicyFile and checkDirectory take them', async () => {
    const f = files(OUTSIDE, 'web', 'web');
    const dir = mkdtempSync(join(tmpdir(), 'jitkey-clusters-'));
    for (const x of f) writeFileSync(join(dir, x.name), x.text);
    const selfHosted = {
      iss: 'https://token.actions.githubusercontent.com',
      repository: 'acme/web-app',
      repository_id: '1',
      ref: 'refs/heads/main',
      runner_environment: 'self-hosted',
    };
    const decide = async (clusters: ClusterNames) =>
      evaluate((await loadPolicyFile(dir, { clusters })).roles.get('web')!, selfHosted).code;
    expect(await decide([])).toBe('granted');
    expect(await decide(ONE_CLUSTER)).toBe('guardrail');
    const overlapping = files(OUTSIDE, 'payments');
    expect(checkDirectory('org', overlapping).errors).toEqual([]);
    expect(checkDirectory('org', overlapping, { clusters: ONE_CLUSTER }).errors).toHaveLength(2);
  });
});

describe('clusterNamesFromEnv', () => {
  const serviceAccount = () => {
    const d = mkdtempSync(join(tmpdir(), 'jitkey-sa-'));
    writeFileSync(join(d, 'token'), 'in-cluster-token\n');
    writeFileSync(join(d, 'ca.crt'), 'PEM');
    return d;
  };
  const env = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };

  it('in-cluster: the service address, kubernetes.default.svc and JITKEY_IN_CLUSTER_SERVERS', () => {
    const inClusterDir = serviceAccount();
    expect(
      clusterNamesFromEnv(
        { ...env, JITKEY_IN_CLUSTER_SERVERS: 'https://k8s.acme.example/, https://k8s.acme.example:8443' },
        { inClusterDir },
      ),
    ).toEqual([
      [
        'https://10.0.0.1',
        'https://kubernetes.default.svc',
        'https://k8s.acme.example',
        'https://k8s.acme.example:8443',
      ],
    ]);
  });

  it('none with a kubeconfig, or out of a cluster', () => {
    const inClusterDir = serviceAccount();
    expect(clusterNamesFromEnv({ ...env, JITKEY_KUBECONFIG: '/nonexistent' }, { inClusterDir })).toEqual([]);
    expect(clusterNamesFromEnv(env, { inClusterDir: mkdtempSync(join(tmpdir(), 'jitkey-none-')) })).toEqual(
      [],
    );
    expect(clusterNamesFromEnv({}, { inClusterDir })).toEqual([]);
  });
});

describe('clusterNamesForTools', () => {
  it("reads the names only where the exchanger's JITKEY_IN_CLUSTER_SERVERS is set", () => {
    const inClusterDir = mkdtempSync(join(tmpdir(), 'jitkey-sa-'));
    writeFileSync(join(inClusterDir, 'token'), 'in-cluster-token\n');
    writeFileSync(join(inClusterDir, 'ca.crt'), 'PEM');
    const runner = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };
    // A CI runner in a cluster of its own: its service account says nothing of jitkey's cluster.
    expect(clusterNamesForTools(runner, { inClusterDir })).toEqual([]);
    const exchanger = { ...runner, JITKEY_IN_CLUSTER_SERVERS: 'https://k8s.acme.example' };
    expect(clusterNamesForTools(exchanger, { inClusterDir })).toEqual([
      ['https://10.0.0.1', 'https://kubernetes.default.svc', 'https://k8s.acme.example'],
    ]);
  });
});

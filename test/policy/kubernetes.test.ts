import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { explain } from '../../exchanger/policy/evaluate/explain.js';
import { checkPolicy } from '../../exchanger/policy/lint/check.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';

const CA_DATA = readFileSync(new URL('../fixtures/kubernetes-ca.pem', import.meta.url)).toString('base64');

function policy(block: string, extra = ''): string {
  return `version: 1
issuers:
  - { url: https://token.actions.githubusercontent.com, audience: jitkey }
roles:
  deploy:
    provider: kubernetes
    kubernetes: ${block}
${extra}    allow:
      - { repository_id: "1", event_name: push }
`;
}

describe('kubernetes role block', () => {
  it('compiles a valid block (trailing / dropped, ca_data kept, audiences deduplicated)', () => {
    const p = loadPolicy(
      policy(
        `{ server: "https://k8s.acme.internal:6443/", ca_data: "${CA_DATA}", namespace: web, service_account: deployer, audiences: [a, a, b] }`,
      ),
      'policy.yaml',
    );
    expect(p.roles.get('deploy')?.kubernetes).toEqual({
      server: 'https://k8s.acme.internal:6443',
      caData: CA_DATA,
      namespace: 'web',
      serviceAccount: 'deployer',
      audiences: ['a', 'b'],
    });
  });

  it('takes http and no ca_data on loopback only', () => {
    const ok = checkPolicy(
      policy('{ server: "http://127.0.0.1:8001", namespace: web, service_account: deployer }'),
      'policy.yaml',
    );
    expect(ok.errors).toEqual([]);
  });

  const bad = [
    {
      name: 'http off loopback',
      block: '{ server: "http://k8s.acme.internal", namespace: web, service_account: deployer }',
      error:
        "roles.deploy.kubernetes.server: 'http://k8s.acme.internal' must use https (http is accepted only on loopback hosts: 127.0.0.0/8, localhost and [::1])",
    },
    {
      name: 'https without ca_data',
      block: '{ server: "https://k8s.acme.internal", namespace: web, service_account: deployer }',
      error:
        "roles.deploy.kubernetes: missing required key 'ca_data' (the base64 PEM of the cluster's CA, as in a kubeconfig's certificate-authority-data); it may be left out only for a loopback server",
    },
    {
      name: 'ca_data as PEM text',
      block:
        '{ server: "https://k8s.acme.internal", ca_data: "-----BEGIN CERTIFICATE-----", namespace: web, service_account: deployer }',
      error:
        "roles.deploy.kubernetes.ca_data: must be base64 (a kubeconfig's certificate-authority-data: `base64 -w0 ca.crt`), not PEM text or a path",
    },
    {
      name: 'ca_data that is not a certificate',
      block: `{ server: "https://k8s.acme.internal", ca_data: "${Buffer.from('hello').toString('base64')}", namespace: web, service_account: deployer }`,
      error:
        'roles.deploy.kubernetes.ca_data: decodes to something other than a PEM certificate (expected -----BEGIN CERTIFICATE-----)',
    },
    {
      name: 'namespace with capitals',
      block: '{ server: "http://127.0.0.1:1", namespace: Web_Prod, service_account: deployer }',
      error:
        "roles.deploy.kubernetes.namespace: 'Web_Prod' is not a Kubernetes namespace name (at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit)",
    },
    {
      name: 'service account given as a username',
      block:
        '{ server: "http://127.0.0.1:1", namespace: web, service_account: "system:serviceaccount:web:deployer" }',
      error:
        "roles.deploy.kubernetes.service_account: 'system:serviceaccount:web:deployer' is not a Kubernetes service account name (lowercase letters, digits, '-' and '.', at most 253; the name only, without 'system:serviceaccount:' or the namespace)",
    },
    {
      name: 'missing namespace',
      block: '{ server: "http://127.0.0.1:1", service_account: deployer }',
      error: "roles.deploy.kubernetes: missing required key 'namespace'",
    },
    {
      name: 'empty audiences',
      block: '{ server: "http://127.0.0.1:1", namespace: web, service_account: deployer, audiences: [] }',
      error: 'roles.deploy.kubernetes.audiences must not be empty',
    },
    {
      name: 'unknown key with suggestion',
      block: '{ server: "http://127.0.0.1:1", namespace: web, serviceaccount: deployer }',
      error: "roles.deploy.kubernetes: missing required key 'service_account'",
    },
  ];
  it.each(bad)('refuses $name', ({ block, error }) => {
    const result = checkPolicy(policy(block), 'policy.yaml');
    expect(result.ok).toBe(false);
    // Each error points at a line and column of the file, then says what to change.
    const ours = result.errors
      .filter((e) => /^policy\.yaml:\d+:\d+: error: /.test(e))
      .map((e) => e.replace(/^\S+ error: /, ''));
    expect(ours).toContain(error);
  });

  it('names the nearest key for a typo', () => {
    const result = checkPolicy(
      policy('{ server: "http://127.0.0.1:1", namespace: web, serviceaccount: deployer }'),
      'policy.yaml',
    );
    expect(result.errors.join('\n')).toContain(
      "unknown key 'serviceaccount' in roles.deploy.kubernetes; did you mean 'service_account'?",
    );
  });

  it('refuses a kubernetes block on another provider', () => {
    const text = policy('{ server: "http://127.0.0.1:1", namespace: web, service_account: d }').replace(
      'provider: kubernetes',
      'provider: aws\n    aws: { role_arn: "arn:aws:iam::111122223333:role/r" }',
    );
    expect(checkPolicy(text, 'policy.yaml').errors.join('\n')).toContain(
      "roles.deploy.kubernetes: this role's provider is 'aws'; remove the kubernetes block",
    );
  });
});

describe('lint: kubernetes roles without approval', () => {
  const cases = [
    {
      name: 'kube-system',
      block: '{ server: "http://127.0.0.1:1", namespace: kube-system, service_account: d }',
    },
    {
      name: 'cluster-admin',
      block: '{ server: "http://127.0.0.1:1", namespace: web, service_account: cluster-admin }',
    },
  ];
  it.each(cases)('warns on $name', ({ block }) => {
    const { ok, warnings } = checkPolicy(
      policy(block, '    deny: [ { event_name: pull_request } ]\n'),
      'policy.yaml',
    );
    expect(ok).toBe(true);
    expect(warnings.filter((w) => w.includes('has no approval'))).toHaveLength(1);
  });

  it('is quiet with approval, and for an ordinary namespaced account', () => {
    const approved = checkPolicy(
      policy(cases[0]!.block, '    approval: { approvers: [octocat] }\n'),
      'policy.yaml',
    );
    const plain = checkPolicy(
      policy('{ server: "http://127.0.0.1:1", namespace: web, service_account: deployer }'),
      'policy.yaml',
    );
    expect(approved.warnings.filter((w) => w.includes('has no approval'))).toEqual([]);
    expect(plain.warnings.filter((w) => w.includes('has no approval'))).toEqual([]);
  });

  it('counts kubernetes roles as privileged (pull_request reachable)', () => {
    const { warnings } = checkPolicy(
      policy('{ server: "http://127.0.0.1:1", namespace: web, service_account: deployer }').replace(
        ', event_name: push',
        '',
      ),
      'policy.yaml',
    );
    expect(warnings.join('\n')).toContain("role 'deploy' (privileged) is reachable from pull request events");
  });
});

describe('explain', () => {
  it('names the service account and the server a grant would hand out', () => {
    const p = loadPolicy(
      policy(
        '{ server: "http://127.0.0.1:8001", namespace: web, service_account: deployer, audiences: [ci] }',
      ),
      'policy.yaml',
    );
    const text = explain(p, 'deploy', { repository_id: '1', event_name: 'push' });
    expect(text.split('\n').slice(0, 2)).toEqual([
      "role 'deploy' (kubernetes) at policy.yaml:5:3",
      'grants: service account web/deployer at http://127.0.0.1:8001, audiences ci',
    ]);
    expect(text).toContain('decision: GRANTED');
  });
});

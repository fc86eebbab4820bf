/**
 * `forbid_actions:` of a Kubernetes role (issue 26, item 3): a request verb on a resource, checked
 * when the policy loads (file:line and what to write), and which audit-event requests it names.
 */
import { describe, expect, it } from 'vitest';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import {
  type KubernetesRequest,
  kubernetesActionMatches,
  kubernetesResourceName,
  parseKubernetesResource,
} from '../../exchanger/policy/model/kubernetes-actions.js';
import { loadErrors } from '../support/policy-issues.js';

const HEAD = `version: 1
issuers:
  - { url: https://token.actions.githubusercontent.com, audience: jitkey }
roles:
`;
const kube = (forbid: string) => `  deploy:
    provider: kubernetes
    kubernetes: { server: "http://127.0.0.1:6443", namespace: web, service_account: deployer }
    forbid_actions: ${forbid}
    allow:
      - { repository_id: "2" }
`;

describe('forbid_actions of a kubernetes role', () => {
  it('is kept on the compiled role as written', () => {
    const p = loadPolicy(
      HEAD +
        kube('["delete secrets", "create clusterrolebindings.rbac.authorization.k8s.io", "* pods/exec"]'),
      'p.yaml',
    );
    expect(p.roles.get('deploy')?.forbidActions).toEqual([
      'delete secrets',
      'create clusterrolebindings.rbac.authorization.k8s.io',
      '* pods/exec',
    ]);
  });

  it.each([
    ['[iam:CreateUser]', "'iam:CreateUser' is not a Kubernetes action: it is not a verb and a resource;"],
    ['["*/pods/exec"]', "'*/pods/exec' is not a Kubernetes action: it is not a verb and a resource;"],
    [
      '["remove secrets"]',
      "'remove secrets' is not a Kubernetes action: 'remove' is not a verb an audit event records (get, list, watch, create, update, patch, delete, deletecollection or *);",
    ],
  ])('refuses %s, at its line, saying what to write', (forbid, message) => {
    const errors = loadErrors(HEAD + kube(forbid));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^p\.yaml:8:\d+: roles\.deploy\.forbid_actions: /);
    expect(errors[0]).toContain(message);
    expect(errors[0]).toContain('write VERB RESOURCE, e.g. "delete secrets"');
  });
});

describe('matching a request', () => {
  const req = (verb: string, resource: string): KubernetesRequest => ({
    verb,
    ...parseKubernetesResource(resource),
  });
  it.each([
    ['delete secrets', req('delete', 'secrets'), true],
    ['DELETE Secrets', req('delete', 'secrets'), true],
    ['delete secrets', req('get', 'secrets'), false],
    ['delete secrets', req('deletecollection', 'secrets'), false],
    // As in RBAC: a resource is not its subresources.
    ['get pods', req('get', 'pods/log'), false],
    ['* pods/exec', req('create', 'pods/exec'), true],
    ['* pods/exec', req('get', 'pods/exec'), true],
    ['* pods/*', req('get', 'pods/log'), true],
    ['* pods/*', req('get', 'pods'), false],
    // No group: any group; a group: that one.
    ['create clusterrolebindings', req('create', 'clusterrolebindings.rbac.authorization.k8s.io'), true],
    [
      'create clusterrolebindings.rbac.authorization.k8s.io',
      req('create', 'clusterrolebindings.rbac.authorization.k8s.io'),
      true,
    ],
    [
      'create clusterrolebindings.example.com',
      req('create', 'clusterrolebindings.rbac.authorization.k8s.io'),
      false,
    ],
    ['patch deployments.apps/*', req('patch', 'deployments.apps/scale'), true],
    ['delete *', req('delete', 'configmaps'), true],
    ['* *', req('watch', 'pods/log'), true],
  ])('%s on %o → %s', (pattern, request, want) => {
    expect(kubernetesActionMatches(pattern, request)).toBe(want);
  });

  it('names a resource as RBAC writes it, and reads it back', () => {
    const r = { resource: 'deployments', group: 'apps', subresource: 'scale' };
    expect(kubernetesResourceName(r)).toBe('deployments.apps/scale');
    expect(parseKubernetesResource('deployments.apps/scale')).toEqual(r);
    expect(kubernetesResourceName({ resource: 'secrets', group: '', subresource: '' })).toBe('secrets');
  });
});

import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Lease } from '../../src/shared/api.js';
import {
  kubeconfigDocument,
  kubeconfigPath,
  removeKubeconfig,
  writeKubeconfig,
} from '../../src/shared/kubeconfig.js';

const lease: Extract<Lease, { provider: 'kubernetes' }> = {
  leaseId: 'lease_abc-DEF_1',
  revokeToken: 'rt',
  role: 'deploy-web',
  expiresAt: '2030-01-01T00:00:00.000Z',
  provider: 'kubernetes',
  credentials: {
    server: 'https://k8s.acme.internal',
    ca_data: 'Q0E=',
    namespace: 'web',
    token: 'sa-token',
    expires_at: '2030-01-01T00:00:00.000Z',
  },
};

const temp = () => mkdtempSync(join(tmpdir(), 'jitkey-kcfg-action-'));

describe('the kubeconfig the Action writes', () => {
  it('names the cluster, CA, namespace and token; the user entry is the refresh seam', () => {
    const doc = kubeconfigDocument(lease);
    expect(doc).toEqual({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'jitkey-deploy-web',
          cluster: { server: lease.credentials.server, 'certificate-authority-data': 'Q0E=' },
        },
      ],
      users: [{ name: 'jitkey-deploy-web', user: { token: 'sa-token' } }],
      contexts: [
        {
          name: 'jitkey-deploy-web',
          context: { cluster: 'jitkey-deploy-web', user: 'jitkey-deploy-web', namespace: 'web' },
        },
      ],
      'current-context': 'jitkey-deploy-web',
    });
    const exec = { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'agent' } };
    expect(kubeconfigDocument(lease, exec).users[0]?.user).toEqual(exec);
  });

  it('goes to RUNNER_TEMP with mode 0600, and only once', () => {
    const dir = temp();
    const path = kubeconfigPath({ RUNNER_TEMP: dir }, lease.leaseId);
    expect(path).toBe(join(dir, 'jitkey-lease_abc-DEF_1.kubeconfig'));
    writeKubeconfig(path, lease);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8')).users[0].user.token).toBe('sa-token');
    // A file (or a symlink planted by an earlier step) already there is refused, not followed.
    expect(() => writeKubeconfig(path, lease)).toThrow(/could not create the kubeconfig .*EEXIST/);
    const planted = join(dir, 'jitkey-lease_other.kubeconfig');
    symlinkSync(join(dir, 'target'), planted);
    expect(() => writeKubeconfig(planted, lease)).toThrow(/EEXIST/);
    expect(existsSync(join(dir, 'target'))).toBe(false);
  });

  it('refuses a missing RUNNER_TEMP, and one inside the workspace', () => {
    expect(() => kubeconfigPath({}, lease.leaseId)).toThrow(
      'RUNNER_TEMP is not set to an absolute directory: the kubeconfig is written only there (never into the workspace); run this Action on a GitHub Actions runner',
    );
    const workspace = temp();
    const inside = join(workspace, 'tmp');
    mkdirSync(inside);
    expect(() => kubeconfigPath({ RUNNER_TEMP: inside, GITHUB_WORKSPACE: workspace }, lease.leaseId)).toThrow(
      /is inside the workspace/,
    );
    expect(() => kubeconfigPath({ RUNNER_TEMP: temp() }, '../../etc/x')).toThrow(/not a safe file name/);
  });

  it('the post step deletes only a file named like ours', () => {
    const dir = temp();
    const other = join(dir, 'notes.txt');
    writeFileSync(other, 'x');
    expect(removeKubeconfig(other)).toBe(false);
    expect(existsSync(other)).toBe(true);
    const ours = join(dir, 'jitkey-lease_1.kubeconfig');
    writeFileSync(ours, '{}');
    expect(removeKubeconfig(ours)).toBe(true);
    expect(existsSync(ours)).toBe(false);
  });
});

/**
 * Where a lease's credentials go (docs/reference.md section 4): environment variables for later steps when
 * `export-env`, step outputs when `output-credentials`. Nothing is written into the workspace.
 */
import type { Lease } from '../shared/api.js';
import type { Core } from '../shared/core.js';

/**
 * The variables a lease exports, in order; AWS region variables only when the exchanger named one.
 * Kubernetes exports `KUBECONFIG`, the file `kubeconfig.ts` wrote (its path is `kubeconfigPath`).
 */
export function envFor(lease: Lease, kubeconfigPath?: string): Array<[string, string]> {
  switch (lease.provider) {
    case 'aws': {
      const c = lease.credentials;
      const vars: Array<[string, string]> = [
        ['AWS_ACCESS_KEY_ID', c.access_key_id],
        ['AWS_SECRET_ACCESS_KEY', c.secret_access_key],
        ['AWS_SESSION_TOKEN', c.session_token],
      ];
      if (c.region) vars.push(['AWS_REGION', c.region], ['AWS_DEFAULT_REGION', c.region]);
      return vars;
    }
    case 'gcp':
      return [
        ['GOOGLE_OAUTH_ACCESS_TOKEN', lease.credentials.access_token],
        ['CLOUDSDK_AUTH_ACCESS_TOKEN', lease.credentials.access_token],
      ];
    case 'github':
      return [['GH_TOKEN', lease.credentials.token]];
    case 'kubernetes':
      return kubeconfigPath ? [['KUBECONFIG', kubeconfigPath]] : [];
  }
}

/** Step outputs: always the lease's identity; the credentials only when asked for. */
export function outputsFor(
  lease: Lease,
  withCredentials: boolean,
  kubeconfigPath?: string,
): Array<[string, string]> {
  const outputs: Array<[string, string]> = [
    ['lease-id', lease.leaseId],
    ['expires-at', lease.expiresAt],
    ['provider', lease.provider],
  ];
  // The path is not a secret: later steps may pass it to tools that ignore KUBECONFIG.
  if (kubeconfigPath) outputs.push(['kubeconfig-path', kubeconfigPath]);
  if (!withCredentials) return outputs;
  switch (lease.provider) {
    case 'aws':
      outputs.push(
        ['aws-access-key-id', lease.credentials.access_key_id],
        ['aws-secret-access-key', lease.credentials.secret_access_key],
        ['aws-session-token', lease.credentials.session_token],
      );
      break;
    case 'gcp':
      outputs.push(['gcp-access-token', lease.credentials.access_token]);
      break;
    case 'github':
      outputs.push(['github-token', lease.credentials.token]);
      break;
    case 'kubernetes':
      outputs.push(['kubernetes-token', lease.credentials.token]);
      break;
  }
  return outputs;
}

/** Exports and outputs a lease (its secrets are already masked); returns the exported names. */
export function publish(
  core: Core,
  lease: Lease,
  options: { outputCredentials: boolean; kubeconfigPath?: string | undefined },
  /** The variables to export: `envFor`'s, a credentials agent's, or none. */
  exported: Array<[string, string]>,
) {
  for (const [name, value] of exported) core.exportVariable(name, value);
  for (const [name, value] of outputsFor(lease, options.outputCredentials, options.kubeconfigPath)) {
    core.setOutput(name, value);
  }
  return exported.map(([name]) => name);
}

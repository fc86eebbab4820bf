/**
 * A Kubernetes lease becomes a kubeconfig file at `$RUNNER_TEMP/jitkey-<lease_id>.kubeconfig`
 * (docs/reference.md, section 6): written by the main step, deleted by the post step; mode 0600,
 * created exclusively (an existing file or symlink there is refused), never in the workspace.
 * Written as JSON, which is YAML too, so the bundle needs no YAML library.
 *
 * With `refresh: true` (docs/reference.md, section 5) the user is `execUser(...)` instead of
 * `tokenUser(lease)`: an exec credential plugin (client.authentication.k8s.io/v1) that asks the
 * credentials agent for the current token, so clients pick up renewals. The agent's URL and bearer
 * are exec `env` entries of this 0600 file, never command-line arguments (which other users of the
 * machine can list).
 */
import { realpathSync, rmSync, writeFileSync } from 'node:fs';
import { basename, isAbsolute, join, relative } from 'node:path';
import type { KubernetesCredentials, Lease } from './api.js';
import { ActionError } from './errors.js';

/** The exec plugin's API, and the exec `env` entries that tell it where the agent is and its bearer. */
export const EXEC_CREDENTIAL_API_VERSION = 'client.authentication.k8s.io/v1';
export const AGENT_URL_VAR = 'JITKEY_AGENT_URL';
export const AGENT_TOKEN_VAR = 'JITKEY_AGENT_TOKEN';

type KubernetesLease = Extract<Lease, { provider: 'kubernetes' }>;
type Env = Readonly<Record<string, string | undefined>>;
const FILE_NAME = /^jitkey-[A-Za-z0-9_-]+\.kubeconfig$/;

/** The kubeconfig `users[].user` entry. */
export type KubeUser = { token: string } | { exec: Record<string, unknown> };

export const tokenUser = (credentials: KubernetesCredentials): KubeUser => ({ token: credentials.token });

/**
 * The exec user that runs `node <agent script> exec-credential`: `node` is the runner's node that
 * runs the Action (its absolute path, so PATH does not matter), the script the bundled agent.
 */
export function execUser(agent: { node: string; script: string; origin: string; bearer: string }): KubeUser {
  return {
    exec: {
      apiVersion: EXEC_CREDENTIAL_API_VERSION,
      command: agent.node,
      args: [agent.script, 'exec-credential'],
      env: [
        { name: AGENT_URL_VAR, value: agent.origin },
        { name: AGENT_TOKEN_VAR, value: agent.bearer },
      ],
      interactiveMode: 'Never',
      provideClusterInfo: false,
      installHint:
        'This kubeconfig was written by the jitkey Action (refresh: true); it works only while the job runs, between the jitkey step and its post step.',
    },
  };
}

export function kubeconfigDocument(lease: KubernetesLease, user: KubeUser = tokenUser(lease.credentials)) {
  const c = lease.credentials;
  const name = `jitkey-${lease.role}`;
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name,
        cluster: { server: c.server, ...(c.ca_data ? { 'certificate-authority-data': c.ca_data } : {}) },
      },
    ],
    users: [{ name, user }],
    contexts: [{ name, context: { cluster: name, user: name, namespace: c.namespace } }],
    'current-context': name,
  };
}

/** Where the file goes; refuses a missing RUNNER_TEMP or one inside the workspace. */
export function kubeconfigPath(env: Env, leaseId: string): string {
  const temp = env.RUNNER_TEMP;
  if (!temp || !isAbsolute(temp)) {
    throw new ActionError(
      'invalid_input',
      'RUNNER_TEMP is not set to an absolute directory: the kubeconfig is written only there (never into the workspace); run this Action on a GitHub Actions runner',
    );
  }
  const workspace = env.GITHUB_WORKSPACE;
  if (workspace && isInside(real(temp), real(workspace))) {
    throw new ActionError(
      'invalid_input',
      `RUNNER_TEMP (${temp}) is inside the workspace (${workspace}); the kubeconfig holds a token and is not written there`,
    );
  }
  if (!/^[A-Za-z0-9_-]+$/.test(leaseId)) {
    throw new ActionError('bad_response', `the exchanger's lease id '${leaseId}' is not a safe file name`);
  }
  return join(temp, `jitkey-${leaseId}.kubeconfig`);
}

/** Writes the file at `kubeconfigPath` (mode 0600, exclusive create). The token must already be masked. */
export function writeKubeconfig(path: string, lease: KubernetesLease, user?: KubeUser): void {
  try {
    writeFileSync(path, `${JSON.stringify(kubeconfigDocument(lease, user), null, 2)}\n`, {
      mode: 0o600,
      flag: 'wx',
    });
  } catch (cause) {
    throw new ActionError(
      'invalid_input',
      `could not create the kubeconfig ${path}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
}

/** Only a file this Action names (the post step's state could otherwise point anywhere). */
export function removeKubeconfig(path: string): boolean {
  if (!FILE_NAME.test(basename(path))) return false;
  rmSync(path, { force: true });
  return true;
}

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

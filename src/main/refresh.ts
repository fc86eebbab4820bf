/**
 * `refresh: true` in the main step: after the first lease, start the credentials agent that renews
 * it for the rest of the job, and say what later steps get instead of static credentials. Roles
 * whose provider has no agent endpoint (github) get a warning and the usual static credentials.
 */

import { KINDS } from '../agent/kinds.js';
import { type AgentHandle, bundledAgentPath, launchAgent, newAgentToken } from '../agent/launch.js';
import type { Deps } from '../client/deps.js';
import { MISSING_PERMISSION_MESSAGE } from '../client/oidc.js';
import type { Lease } from '../shared/api.js';
import { ActionError } from '../shared/errors.js';
import { execUser, type KubeUser } from '../shared/kubeconfig.js';
import { proxyVariables } from '../transport/proxy.js';
import type { Inputs } from './inputs.js';

export interface Refresh {
  handle: AgentHandle;
  env: Array<[string, string]>;
  /** Kubernetes: the kubeconfig user whose exec plugin asks the agent (instead of a fixed token). */
  kubeUser?: KubeUser;
}

export async function startRefresh(deps: Deps, inputs: Inputs, lease: Lease): Promise<Refresh | undefined> {
  const kind = KINDS[lease.provider];
  if (!kind) {
    deps.core.warning(
      `refresh: true has no effect for ${lease.provider} roles: their credentials are exported as usual ` +
        'and end when the post step (or the workflow_run webhook) revokes them.',
    );
    return undefined;
  }
  const tokenRequestUrl = deps.env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const tokenRequestToken = deps.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!tokenRequestUrl || !tokenRequestToken)
    throw new ActionError('oidc_unavailable', MISSING_PERMISSION_MESSAGE);
  const bearer = await newAgentToken(deps.core);
  const handle = await launchAgent(deps, {
    exchangerUrl: inputs.exchangerUrl.href,
    role: inputs.role,
    audience: inputs.audience,
    ...(inputs.durationSeconds === undefined ? {} : { durationSeconds: inputs.durationSeconds }),
    retries: inputs.retries,
    tokenRequestUrl,
    tokenRequestToken,
    bearer,
    lease,
    ...renewAtFromEnv(deps.env),
    proxyEnv: proxyVariables(deps.env),
    // This step's parent is the job's runner process; the agent exits when it is gone.
    ...(process.ppid > 1 ? { runnerPid: process.ppid } : {}),
  });
  const env = kind.exports(
    { origin: handle.origin, host: handle.origin.replace(/^http:\/\//, ''), bearer },
    lease,
  );
  deps.core.info(
    `Started the credentials agent on ${handle.origin} (pid ${handle.pid}): it renews the lease when two thirds of it have passed.`,
  );
  if (lease.provider !== 'kubernetes') return { handle, env };
  const kubeUser = execUser({
    node: process.execPath,
    script: bundledAgentPath(),
    origin: handle.origin,
    bearer,
  });
  return { handle, env, kubeUser };
}

/**
 * JITKEY_AGENT_RENEW_AT (a fraction in (0, 1)) moves the renewal point: for tests and demos
 * that cannot wait two thirds of a real lease. Not an input: workflows have no reason to set it.
 */
function renewAtFromEnv(env: Deps['env']): { renewAt?: number } {
  const value = Number(env.JITKEY_AGENT_RENEW_AT);
  return value > 0 && value < 1 ? { renewAt: value } : {};
}

/**
 * The main step: inputs → OIDC token → exchange (→ approval → redeem) → mask, state, exports,
 * outputs, summary. Every secret is masked where it first arrives (oidc.ts, api.ts), so nothing
 * below can print it first.
 */

import type { Deps } from '../client/deps.js';
import { type ClientOptions, exchange, redeem } from '../client/exchanger.js';
import { requestIdToken } from '../client/oidc.js';
import type { Lease, PendingApproval, RequestStatus } from '../shared/api.js';
import { kubeconfigPath as kubeconfigPathFor, writeKubeconfig } from '../shared/kubeconfig.js';
import { saveState } from '../shared/state.js';
import { waitForApproval } from './approval.js';
import { envFor, publish } from './exports.js';
import { describeFailure } from './failure.js';
import { type Inputs, readInputs } from './inputs.js';
import { startRefresh } from './refresh.js';
import { jobContext, renderFailureSummary, renderSummary } from './summary.js';

export async function run(deps: Deps): Promise<void> {
  const { core } = deps;
  let inputs: Inputs | undefined;
  let lastToken: string | undefined;
  try {
    inputs = readInputs(core.getInput);
    const { exchangerUrl, role, audience, retries } = inputs;
    if (!inputs.exportEnv && !inputs.outputCredentials) {
      core.warning(
        'export-env and output-credentials are both false: later steps get no credentials from this step.',
      );
    }
    const getToken = async () => {
      lastToken = await requestIdToken(deps, audience, retries);
      return lastToken;
    };
    const client: ClientOptions = { baseUrl: exchangerUrl, retries };

    core.info(`Exchanging the job's OIDC token for role '${role}' at ${inputs.exchangerUrlText}`);
    // The exchanger's connection (its TLS handshake) opens while the runner issues the token. The
    // token's request goes out first: the exchange waits for it, and the connection opened first
    // pays for loading node:tls and its first secure context.
    setImmediate(() => deps.preconnect?.(exchangerUrl));
    const outcome = await exchange(deps, client, getToken, { role, durationSeconds: inputs.durationSeconds });
    let lease: Lease;
    let approval: { pending: PendingApproval; status: RequestStatus } | undefined;
    if (outcome.kind === 'pending') {
      const { pending } = outcome;
      const status = await waitForApproval(deps, pending, {
        client,
        exchangerUrlText: inputs.exchangerUrlText,
        role,
        timeoutSeconds: inputs.approvalTimeoutSeconds,
      });
      approval = { pending, status };
      lease = await redeem(deps, client, getToken, pending);
    } else {
      lease = outcome.lease;
    }

    // The state is saved before anything can fail (the agent's start included), so the post step
    // revokes the lease and deletes the file.
    let kubeconfigPath: string | undefined;
    let kubeconfigProblem: unknown;
    if (lease.provider === 'kubernetes') {
      try {
        kubeconfigPath = kubeconfigPathFor(deps.env, lease.leaseId);
      } catch (e) {
        kubeconfigProblem = e;
      }
    }
    const state = {
      leaseId: lease.leaseId,
      revokeToken: lease.revokeToken,
      exchangerUrl: inputs.exchangerUrlText,
      expiresAt: lease.expiresAt,
      exported: [] as string[],
      revoke: inputs.revoke,
      kubeconfig: kubeconfigPath ?? '',
    };
    saveState(core, state);
    const agent = inputs.refresh ? await startRefresh(deps, inputs, lease) : undefined;
    // With an agent, a Kubernetes role still exports KUBECONFIG: the file's exec user asks the agent.
    const exportedVars: Array<[string, string]> = agent
      ? kubeconfigPath
        ? [...agent.env, ['KUBECONFIG', kubeconfigPath]]
        : agent.env
      : inputs.exportEnv
        ? envFor(lease, kubeconfigPath)
        : [];
    saveState(core, {
      ...state,
      exported: exportedVars.map(([name]) => name),
      ...(agent ? { agent: agent.handle } : {}),
    });
    if (kubeconfigProblem) throw kubeconfigProblem;
    if (lease.provider === 'kubernetes' && kubeconfigPath) {
      writeKubeconfig(kubeconfigPath, lease, agent?.kubeUser);
    }
    const exported = publish(core, lease, { ...inputs, kubeconfigPath }, exportedVars);
    core.appendSummary(
      renderSummary({ lease, exported, job: jobContext(deps.env), ...(approval ? { approval } : {}) }),
    );
    core.info(
      `Issued ${lease.provider} credentials for role '${lease.role}' until ${lease.expiresAt} (lease ${lease.leaseId})` +
        (exported.length ? `; exported ${exported.join(', ')}` : ''),
    );
  } catch (e) {
    const failure = describeFailure(e, {
      role: inputs?.role ?? '',
      audience: inputs?.audience ?? '',
      token: lastToken,
    });
    core.setFailed(failure.message);
    try {
      core.appendSummary(
        renderFailureSummary({
          role: inputs?.role ?? '',
          message: failure.summaryText ?? failure.message,
          claims: failure.claims,
          job: jobContext(deps.env),
        }),
      );
    } catch {
      // The failure is already reported; a summary file that cannot be written changes nothing.
    }
  }
}

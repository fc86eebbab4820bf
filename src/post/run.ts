/**
 * The post step (`post-if: always()`): revoke the lease when `revoke` is true and clear the
 * variables the main step exported. It never fails the job: an exchanger that is down gets a
 * warning (the credentials still expire on their own at expires-at).
 */
import { stopAgent } from '../agent/launch.js';
import type { Deps } from '../client/deps.js';
import { revoke } from '../client/exchanger.js';
import { errorMessage } from '../shared/errors.js';
import { parseExchangerUrl } from '../shared/exchanger-url.js';
import { removeKubeconfig } from '../shared/kubeconfig.js';
import { loadState } from '../shared/state.js';

export const POST_RETRIES = 2;

export async function runPost(deps: Deps): Promise<void> {
  const { core } = deps;
  const state = loadState(core);
  if (state.revokeToken) core.setSecret(state.revokeToken);
  if (state.agent) core.setSecret(state.agent.bearer);
  try {
    if (state.agent) await stopRefresh(deps, state.agent);
    if (!state.leaseId) {
      core.info('jitkey: no lease was issued in the main step; nothing to revoke.');
    } else if (!state.revoke) {
      core.info(`jitkey: revoke is false; lease ${state.leaseId} stays valid until ${state.expiresAt}.`);
    } else {
      try {
        const { base } = parseExchangerUrl(state.exchangerUrl);
        await revoke(deps, { baseUrl: base, retries: POST_RETRIES }, state);
        core.info(`jitkey: revoked lease ${state.leaseId}.`);
      } catch (e) {
        core.warning(
          `jitkey: could not revoke lease ${state.leaseId}: ${errorMessage(e)}. ` +
            `Its credentials stay valid until ${state.expiresAt || 'they expire'}.`,
        );
      }
    }
  } finally {
    // The file holds the token: it goes whether or not the lease was revoked.
    if (state.kubeconfig && removeKubeconfig(state.kubeconfig)) {
      core.info(`jitkey: deleted ${state.kubeconfig}.`);
    }
    for (const name of state.exported) core.exportVariable(name, '');
    if (state.exported.length) core.info(`jitkey: cleared ${state.exported.join(', ')}.`);
  }
}

/** Stops the credentials agent, which revokes the leases it renewed; never fails the job. */
async function stopRefresh(
  deps: Deps,
  agent: NonNullable<ReturnType<typeof loadState>['agent']>,
): Promise<void> {
  const { core } = deps;
  try {
    const report = await stopAgent(deps, agent);
    core.info(
      `jitkey: stopped the credentials agent after ${report.renewals} renewal(s); revoked ${report.revoked.length} renewed lease(s)` +
        (report.stopped ? ` (renewing had stopped: ${report.stopped})` : '') +
        (report.lastError && !report.stopped?.includes(report.lastError)
          ? `; the last renewal failed: ${report.lastError}`
          : '') +
        '.',
    );
    if (report.failed.length) {
      core.warning(
        `jitkey: could not revoke renewed lease(s) ${report.failed.join(', ')}; they end on their own at their expiry.`,
      );
    }
  } catch (e) {
    core.warning(
      `jitkey: ${errorMessage(e)}. Leases it renewed end on their own at their expiry (at most the role's duration).`,
    );
  }
}

/**
 * The post step (`post-if: always()`): revoke the lease when `revoke` is true and clear the
 * variables the main step exported. It never fails the job: an exchanger that is down gets a
 * warning (the credentials still expire on their own at expires-at).
 */
import { revoke } from './client.js';
import type { Deps } from './deps.js';
import { errorMessage } from './errors.js';
import { parseExchangerUrl } from './inputs.js';
import { removeKubeconfig } from './kubeconfig.js';
import { loadState } from './state.js';

export const POST_RETRIES = 2;

export async function runPost(deps: Deps): Promise<void> {
  const { core } = deps;
  const state = loadState(core);
  if (state.revokeToken) core.setSecret(state.revokeToken);
  try {
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

/**
 * Lease end, upstream: every provider with a `sweep` (Kubernetes: delete the Secrets of ended
 * leases) runs it once at start — leases that ended while no exchanger ran — and then every
 * `intervalMs`. A failed sweep is logged and tried again on the next tick; sweeps never overlap.
 *
 * What a provider may end is decided by the store, not by labels or annotations upstream (anyone
 * who can create a Secret can set those): a lease the store holds, of that provider, revoked or
 * past its `expires_at`.
 */
import type { Logger } from '../log.js';
import type { Policy, ProviderName } from '../policy/model/types.js';
import type { LeaseLookup, Providers } from '../providers/types.js';
import type { Store } from '../store/types.js';

export interface SweepDeps {
  providers: Providers;
  policy: () => Policy;
  store: Pick<Store, 'getLease'>;
  now: () => Date;
  log: Logger;
  /** 0 runs the first sweep only. */
  intervalMs: number;
}

/** Starts sweeping; returns stop. */
export function startSweeps(deps: SweepDeps): () => void {
  let running = false;
  const tick = () => {
    if (running) return;
    running = true;
    void sweepOnce(deps).finally(() => {
      running = false;
    });
  };
  tick();
  const timer = deps.intervalMs > 0 ? setInterval(tick, deps.intervalMs) : undefined;
  timer?.unref();
  return () => clearInterval(timer);
}

export async function sweepOnce(deps: Omit<SweepDeps, 'intervalMs'>): Promise<void> {
  const roles = [...deps.policy().roles.values()];
  const lease: LeaseLookup = async (id) => {
    const found = await deps.store.getLease(id);
    if (!found) return undefined;
    const ended = found.revokedAt !== undefined || found.expiresAt.getTime() <= deps.now().getTime();
    return { provider: found.provider, ended };
  };
  for (const [name, provider] of Object.entries(deps.providers)) {
    if (!provider?.sweep) continue;
    try {
      const ended = await provider.sweep(
        roles.filter((r) => r.provider === (name as ProviderName)),
        lease,
      );
      if (ended > 0) deps.log.info('ended leases swept upstream', { provider: name, ended });
    } catch (err) {
      deps.log.warn('lease sweep failed; retried next interval', { provider: name, error: err as Error });
    }
  }
}

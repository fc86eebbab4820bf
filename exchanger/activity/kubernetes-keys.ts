/**
 * Which token ids (jti) are jitkey's: the Kubernetes audit receiver asks for the candidates a
 * batch names (`kubernetes-audit.ts`) and gets their activity keys. The answer comes from the
 * store (every worker and instance registers its leases' tokens there), remembered both ways: a
 * cluster's pods reuse their tokens for an hour, so each foreign jti costs one store read, not
 * one per event.
 *
 * Remembering "not ours" is safe: a jti is unique, and jitkey's token reaches the job only after
 * its key is committed (`exchange/mint.ts`), so no request can be made with it before the store
 * knows it. The one event that names it earlier, the API server's record of jitkey's own
 * TokenRequest (its `issued-credential-id` annotation), is not a candidate (`kubernetes-audit.ts`).
 * The memory is bounded: past `maxEntries` it starts afresh.
 */
import type { ActivityKey } from '../store/activity-types.js';
import type { Store } from '../store/types.js';

export interface JtiDirectory {
  /** The keys of the jtis among `jtis` that name a Kubernetes token jitkey issued. */
  resolve(jtis: Iterable<string>): Promise<Map<string, ActivityKey>>;
}

/** Ids asked of the store in one read. */
const CHUNK = 500;

export function jtiDirectory(
  store: Pick<Store, 'activityKeysById'>,
  options: { maxEntries?: number } = {},
): JtiDirectory {
  const maxEntries = options.maxEntries ?? 100_000;
  const known = new Map<string, ActivityKey | null>();
  return {
    async resolve(jtis) {
      const ours = new Map<string, ActivityKey>();
      const unknown: string[] = [];
      for (const jti of jtis) {
        const key = known.get(jti);
        if (key) ours.set(jti, key);
        else if (key === undefined) unknown.push(jti);
      }
      for (let i = 0; i < unknown.length; i += CHUNK) {
        const ask = unknown.slice(i, i + CHUNK);
        const found = new Map(
          (await store.activityKeysById(ask))
            .filter((k) => k.provider === 'kubernetes')
            .map((k) => [k.keyId, k] as const),
        );
        if (known.size + ask.length > maxEntries) known.clear();
        for (const jti of ask) {
          const key = found.get(jti);
          known.set(jti, key ?? null);
          if (key) ours.set(jti, key);
        }
      }
      return ours;
    },
  };
}

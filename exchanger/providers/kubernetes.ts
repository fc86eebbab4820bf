/**
 * The `kubernetes` provider (reference.md §6): a bound service-account token that dies with its lease.
 *
 * Minting creates an empty Secret `jitkey-lease-<lease id>` in the role's namespace, then asks the
 * TokenRequest API for a token of the role's service account bound to that Secret
 * (`boundObjectRef`), living max(granted duration, 600 s) — 600 s is Kubernetes' floor. Deleting the
 * Secret makes the API server reject the token at once, so the Secret's life is the lease's life:
 *
 * - revoke deletes it, from the reference stored (sealed) with the lease — the server, namespace and
 *   Secret name — so a role since removed from the policy is still revoked;
 * - lease end deletes it: a timer per lease in the exchanger that minted it, and a sweep
 *   (`sweep`, run by `leases/sweep.ts` at start and every purge interval) that lists the Secrets
 *   labelled as jitkey's in every namespace the policy names and deletes those of ended leases. The
 *   sweep is what catches leases of an exchanger that restarted, or of another instance.
 * - The label and annotations are anyone's to set, so they only narrow the listing: a Secret is
 *   deleted when its name is the one this module gives its annotated lease id and the store holds
 *   that lease, as a kubernetes lease, revoked or past its end. Anything else is left alone.
 * - If the API server is down when a lease ends or is revoked, the delete fails and is retried by
 *   the next sweep. Meanwhile the token cannot be used against that API server either; it stays
 *   valid at most until the next sweep after the API server is back, and never past its own
 *   expirationSeconds.
 *
 * Secret names allow only lowercase letters, digits, '-' and '.', so the lease id is written in hex.
 */
import type { KubernetesCredentials } from '../api-types.js';
import { JitkeyError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import type { KubernetesRoleConfig, Role } from '../policy/model/types.js';
import type { KubeApi, SecretRef } from './kubernetes-api.js';
import { jwtClaims } from './kubernetes-token-claims.js';
import type { LeaseLookup, MintedBy, MintRequest, Provider } from './types.js';

/** Kubernetes refuses TokenRequest expirationSeconds below 10 minutes. */
export const MIN_TOKEN_SECONDS = 600;
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'jitkey' } as const;
/** The label selector that finds them again (the sweep). */
const MANAGED_SELECTOR = Object.entries(MANAGED_BY)
  .map(([k, v]) => `${k}=${v}`)
  .join(',');
export const LEASE_ANNOTATION = 'jitkey.dev/lease-id';
export const EXPIRES_ANNOTATION = 'jitkey.dev/expires-at';

export function secretName(leaseId: string): string {
  return `jitkey-lease-${Buffer.from(leaseId.replace(/^lease_/, ''), 'utf8').toString('hex')}`;
}

/** What revoke needs, stored with the lease: nothing secret, and nothing from the current policy. */
interface LeaseRef extends SecretRef {
  server: string;
}

export interface KubernetesProviderOptions {
  /** The API client for a role's server (with the exchanger's own credentials for it). */
  connect: (server: string) => KubeApi;
  log?: Logger;
  now?: () => Date;
  /** Runs `fn` after `ms`; returns a cancel. Default: an unref'd setTimeout. */
  schedule?: (fn: () => void, ms: number) => () => void;
}

export interface KubernetesProvider extends Provider {
  readonly name: 'kubernetes';
  mint(request: MintRequest): Promise<MintedBy<'kubernetes'>>;
  revoke(role: Role | undefined, revocationSecret: string): Promise<void>;
  /** Deletes the Secrets of ended leases in the namespaces these roles (and past mints) name. */
  sweep(roles: Role[], lease: LeaseLookup): Promise<number>;
  /** One line per role whose server the exchanger has no credentials for. */
  check(roles: Role[]): string[];
  /** Cancels the per-lease timers (the sweep of the next start takes over). */
  close(): void;
}

const realSchedule = (fn: () => void, ms: number) => {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return () => clearTimeout(timer);
};

export function createKubernetesProvider(options: KubernetesProviderOptions): KubernetesProvider {
  const log = options.log ?? silentLogger;
  const now = options.now ?? (() => new Date());
  const schedule = options.schedule ?? realSchedule;
  const timers = new Map<string, () => void>();
  /** Namespaces minted in since start, swept even after the policy stops naming them. */
  const minted = new Map<string, { server: string; namespace: string }>();

  const end = async (ref: LeaseRef, why: string): Promise<void> => {
    timers.get(ref.name)?.();
    timers.delete(ref.name);
    const outcome = await options.connect(ref.server).deleteSecret(ref);
    log.info('kubernetes lease secret deleted', { ...ref, why, outcome });
  };

  return {
    name: 'kubernetes',

    async mint({ role, durationSeconds, leaseId, requestId }: MintRequest): Promise<MintedBy<'kubernetes'>> {
      const config = role.kubernetes;
      if (!config) throw new JitkeyError('internal_error', `role '${role.name}' has no kubernetes settings`);
      const api = options.connect(config.server);
      const ref: LeaseRef = { server: config.server, namespace: config.namespace, name: secretName(leaseId) };
      const expiresAt = new Date(now().getTime() + durationSeconds * 1000);
      const uid = await api.createSecret(ref, {
        labels: { ...MANAGED_BY },
        annotations: {
          [LEASE_ANNOTATION]: leaseId,
          [EXPIRES_ANNOTATION]: expiresAt.toISOString(),
          'jitkey.dev/role': role.name,
        },
      });
      let token: string;
      try {
        token = await api.requestToken(config.namespace, config.serviceAccount, {
          audiences: config.audiences,
          expirationSeconds: Math.max(durationSeconds, MIN_TOKEN_SECONDS),
          secret: { ...ref, uid },
        });
      } catch (err) {
        // No token was issued: the Secret has nothing to bind. Leave the cluster as it was.
        await api.deleteSecret(ref).catch((cleanup: unknown) =>
          log.warn('could not delete the secret of a failed token request', {
            ...ref,
            error: cleanup as Error,
          }),
        );
        throw err;
      }
      minted.set(`${ref.server} ${ref.namespace}`, { server: ref.server, namespace: ref.namespace });
      timers.set(
        ref.name,
        schedule(() => {
          end(ref, 'lease ended').catch((err: unknown) =>
            log.warn('could not delete a lease secret at lease end; the sweep retries', {
              ...ref,
              error: err as Error,
            }),
          );
        }, expiresAt.getTime() - now().getTime()),
      );
      log.info('kubernetes token minted', {
        role: role.name,
        namespace: config.namespace,
        service_account: config.serviceAccount,
        secret: ref.name,
        expires_at: expiresAt.toISOString(),
        request_id: requestId,
        lease_id: leaseId,
      });
      // The token's id names it in every audit event of its requests (KEP-4193): its lease's
      // activity (`activity/kubernetes-*.ts`). Not a secret; the token itself is never kept.
      const jti = jwtClaims(token)?.jti;
      return {
        credentials: credentialsOf(config, token, expiresAt),
        expiresAt,
        revocationSecret: JSON.stringify(ref),
        ...(typeof jti === 'string' && jti
          ? { activityKey: { keyId: jti, account: config.server, region: config.namespace } }
          : {}),
      };
    },

    async revoke(_role, revocationSecret) {
      await end(parseRef(revocationSecret), 'revoked');
    },

    async sweep(roles, lease) {
      const targets = new Map(minted);
      for (const role of roles) {
        const k = role.kubernetes;
        if (k) targets.set(`${k.server} ${k.namespace}`, { server: k.server, namespace: k.namespace });
      }
      let deleted = 0;
      for (const { server, namespace } of targets.values()) {
        try {
          const api = options.connect(server);
          for (const secret of await api.listSecrets(namespace, MANAGED_SELECTOR)) {
            const leaseId = secret.annotations[LEASE_ANNOTATION];
            if (!leaseId || secret.name !== secretName(leaseId)) continue;
            const known = await lease(leaseId);
            if (known?.provider !== 'kubernetes' || !known.ended) continue;
            await end({ server, namespace, name: secret.name }, 'lease ended (sweep)');
            deleted++;
          }
        } catch (err) {
          log.warn('kubernetes sweep failed for a namespace; retried next interval', {
            server,
            namespace,
            error: err as Error,
          });
        }
      }
      return deleted;
    },

    check(roles) {
      const problems: string[] = [];
      for (const role of roles) {
        if (!role.kubernetes) continue;
        try {
          options.connect(role.kubernetes.server);
        } catch (err) {
          const detail = (err as { detail?: string }).detail;
          problems.push(`role '${role.name}': ${(err as Error).message}${detail ? ` (${detail})` : ''}`);
        }
      }
      return problems;
    },

    close() {
      for (const cancel of timers.values()) cancel();
      timers.clear();
    },
  };
}

/** The 200 answer's credentials (reference.md §6, Kubernetes provider). */
function credentialsOf(config: KubernetesRoleConfig, token: string, expiresAt: Date): KubernetesCredentials {
  return {
    server: config.server,
    ...(config.caData ? { ca_data: config.caData } : {}),
    namespace: config.namespace,
    token,
    expires_at: expiresAt.toISOString(),
  };
}

function parseRef(text: string): LeaseRef {
  const ref = JSON.parse(text) as Partial<LeaseRef>;
  if (typeof ref.server !== 'string' || typeof ref.namespace !== 'string' || typeof ref.name !== 'string') {
    throw new Error('the lease holds no Kubernetes secret reference');
  }
  return { server: ref.server, namespace: ref.namespace, name: ref.name };
}

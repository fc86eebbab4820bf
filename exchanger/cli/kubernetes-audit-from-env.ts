/**
 * `jitkey serve`'s Kubernetes audit webhook (issue 26, item 2), from the environment:
 *
 *   JITKEY_LEASE_ACTIVITY=…,kubernetes        Kubernetes leases' activity is collected
 *   JITKEY_KUBERNETES_AUDIT_TOKEN_FILE=PATH   the bearer token the API server's audit webhook
 *                                             sends (read at start; at least 32 characters)
 *
 * Each needs the other; a start with one alone stops and says what to set.
 */
import { readFileSync } from 'node:fs';
import { auditIntake } from '../activity/kubernetes-intake.js';
import { jtiDirectory } from '../activity/kubernetes-keys.js';
import type { Logger } from '../log.js';
import type { Policy } from '../policy/model/types.js';
import { type KubernetesAuditHandler, kubernetesAuditRoute } from '../server/kubernetes-audit-route.js';
import type { Store } from '../store/types.js';
import { forbiddenFlagger } from './activity-from-env.js';

const MIN_TOKEN_CHARS = 32;

export function kubernetesAuditFromEnv(
  env: Record<string, string | undefined>,
  providers: readonly string[],
  deps: {
    store: Store;
    log: Logger;
    policy: () => Policy;
    forbiddenActions: { inc(labels: { role: string; action: string }): void };
    batches: { inc(labels: { status: string }): void };
    events: { inc(value: number): void };
    /** Links a flag's notify message to the lease's console page (`forbiddenFlagger`). */
    publicUrl?: string;
  },
): KubernetesAuditHandler | undefined {
  const file = env.JITKEY_KUBERNETES_AUDIT_TOKEN_FILE?.trim();
  const on = providers.includes('kubernetes');
  if (!file && !on) return undefined;
  if (!file) {
    throw new Error(
      "JITKEY_LEASE_ACTIVITY names kubernetes, whose events the API server's audit webhook sends: set JITKEY_KUBERNETES_AUDIT_TOKEN_FILE to a file holding the bearer token its kubeconfig carries (deploy/kubernetes/audit-webhook-config.yaml)",
    );
  }
  if (!on) {
    throw new Error(
      'JITKEY_KUBERNETES_AUDIT_TOKEN_FILE is set but JITKEY_LEASE_ACTIVITY does not name kubernetes: add it (e.g. JITKEY_LEASE_ACTIVITY=aws,kubernetes) or unset the file',
    );
  }
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new Error(
      `JITKEY_KUBERNETES_AUDIT_TOKEN_FILE '${file}' cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  // The example kubeconfig's placeholder (deploy/kubernetes/audit-webhook-config.yaml) is long
  // enough, but public: whoever knew it could post made-up events of any lease.
  if (token.length < MIN_TOKEN_CHARS || /\s/.test(token) || /REPLACE/i.test(token)) {
    throw new Error(
      `JITKEY_KUBERNETES_AUDIT_TOKEN_FILE '${file}' must hold one random token of at least ${MIN_TOKEN_CHARS} characters and no spaces (e.g. from \`openssl rand -hex 32\`)`,
    );
  }
  const { store, log } = deps;
  const intake = auditIntake({
    directory: jtiDirectory(store),
    store,
    log,
    onNewEvents: forbiddenFlagger(deps),
  });
  return kubernetesAuditRoute({
    token: () => token,
    intake,
    counted: (status, kept) => {
      deps.batches.inc({ status: String(status) });
      if (kept) deps.events.inc(kept);
    },
  });
}

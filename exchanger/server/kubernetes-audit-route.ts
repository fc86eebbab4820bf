/**
 * POST /v1/kubernetes/audit: the API server's audit webhook backend (`--audit-webhook-config-file`,
 * `deploy/kubernetes/audit-webhook-config.yaml`) posts `audit.k8s.io/v1` EventLists here; the
 * events of jitkey's own tokens become lease activity (`activity/kubernetes-intake.ts`).
 *
 * - Off unless JITKEY_KUBERNETES_AUDIT_TOKEN_FILE is set: 404, as for any route this exchanger lacks.
 * - The sender proves itself with that file's token as a bearer (`Authorization: Bearer …`),
 *   compared in constant time, before a byte of the body is read: a wrong or missing one is 401
 *   and the connection goes with the answer. Client certificates are not supported.
 * - Bodies up to 10 MiB (the API server splits batches by size only with
 *   `--audit-webhook-truncate-enabled`; docs/activity.md says what to set), read within the body
 *   timeout; larger is 400 and the connection goes, and the API server drops the batch: logged
 *   as an error saying the flags.
 * - A batch is answered 200 once its events of jitkey's tokens are stored; a store that cannot
 *   take them is 503, and the API server sends the batch again. Exchanges never wait on any of it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IntakeOutcome } from '../activity/kubernetes-intake.js';
import { hashSecret, secretMatches } from '../digest.js';
import { invalidToken } from '../errors.js';
import type { Logger } from '../log.js';
import { asJitkeyError, isBodyTooLarge, readBodyStream, sendJson } from './http.js';

export const KUBERNETES_AUDIT_PATH = '/v1/kubernetes/audit';
/**
 * `--audit-webhook-truncate-max-batch-size`'s default. With `--audit-webhook-truncate-enabled` the
 * API server splits batches by the size of their events; docs/activity.md asks for 9 MiB, so the
 * list around them stays under this.
 */
export const MAX_AUDIT_BYTES = 10 * 1024 * 1024;

export type KubernetesAuditHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  intake: { timeoutMs: number; admit(): void },
  log: Logger,
) => Promise<void>;

export interface KubernetesAuditRouteDeps {
  /** The bearer the API server's webhook kubeconfig carries (its file is read once, at start). */
  token: () => string;
  intake: (body: Buffer) => Promise<IntakeOutcome>;
  /** Counts each batch by its answer's status, and the events kept. */
  counted?: (status: number, kept: number) => void;
}

export function kubernetesAuditRoute(deps: KubernetesAuditRouteDeps): KubernetesAuditHandler {
  return async (req, res, { timeoutMs, admit }, log) => {
    let outcome: IntakeOutcome;
    let body: Buffer;
    try {
      checkBearer(req.headers.authorization, deps.token());
      body = await readBodyStream(req, { limit: MAX_AUDIT_BYTES, timeoutMs });
      admit();
      outcome = await deps.intake(body);
    } catch (err) {
      const e = asJitkeyError(err);
      deps.counted?.(e.status, 0);
      // Not retried by the API server: the batch, and whatever a lease did in it, is gone.
      if (isBodyTooLarge(err)) {
        log.error('a kubernetes audit batch over 10 MiB was refused and is lost', {
          fix: 'set --audit-webhook-truncate-enabled=true, --audit-webhook-truncate-max-batch-size=9437184 and --audit-webhook-truncate-max-event-size=2097152 on the API server (docs/activity.md)',
        });
      }
      throw err;
    }
    deps.counted?.(200, outcome.kept);
    sendJson(res, 200, { kept: outcome.kept, added: outcome.added });
    const fields = { bytes: body.length, ...outcome };
    if (outcome.kept) log.info('kubernetes audit batch', fields);
    else log.debug('kubernetes audit batch', fields);
  };
}

/** Compared as SHA-256 digests (`digest.ts`): as long whatever the guess, and its length. */
function checkBearer(header: string | undefined, expected: string): void {
  if (!header) {
    throw invalidToken(
      "missing Authorization header: the API server's audit webhook kubeconfig must carry the token of JITKEY_KUBERNETES_AUDIT_TOKEN_FILE",
    );
  }
  const match = /^Bearer +(\S+)\s*$/i.exec(header);
  if (!match || !secretMatches(match[1]!, hashSecret(expected))) {
    throw invalidToken("the bearer token is not this exchanger's Kubernetes audit webhook token");
  }
}

/**
 * What the Kubernetes API server's answers mean (`kubernetes-api.ts`): the body as JSON, and every
 * failure as `upstream_error` (502) that says what to fix: a 403 names the RBAC verb and resource
 * the exchanger's identity lacks, a 404 the missing namespace or service account.
 */
import { JitkeyError } from '../errors.js';
import type { HttpAnswer } from '../net/http-client.js';

/** The API server a message names, and where its settings came from (`KubeConnection`). */
export interface ApiServer {
  server: string;
  source: string;
}

/** The RBAC rule each call needs, named in a 403's message. */
export const NEEDS = {
  createSecret: { verb: 'create', resource: 'secrets' },
  requestToken: { verb: 'create', resource: 'serviceaccounts/token' },
  deleteSecret: { verb: 'delete', resource: 'secrets' },
  listSecrets: { verb: 'list', resource: 'secrets' },
} as const;
export type Call = keyof typeof NEEDS;

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** The answer as a JSON object; `{}` for anything else (a proxy's HTML error page: the status says enough). */
export function jsonObject(res: HttpAnswer): Record<string, unknown> {
  try {
    const parsed = res.json();
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export function unreachable(conn: ApiServer, cause: Error): JitkeyError {
  return new JitkeyError(
    'upstream_error',
    `the Kubernetes API server at ${conn.server} is unreachable; try again shortly`,
    { cause, detail: `${conn.source}: ${cause.message}` },
  );
}

export function malformed(conn: ApiServer, what: string): JitkeyError {
  return new JitkeyError(
    'upstream_error',
    `the Kubernetes API server at ${conn.server} answered oddly: ${what}`,
  );
}

/** The API server's Status message is for operators (it names our identity); the client gets ours. */
export function refusal(conn: ApiServer, call: Call, namespace: string, answer: Answer): JitkeyError {
  const upstream = typeof answer.body.message === 'string' ? answer.body.message : '';
  const detail = `${conn.source}: HTTP ${answer.status} ${upstream}`.trim();
  const need = NEEDS[call];
  let message: string;
  if (answer.status === 403) {
    message =
      `the Kubernetes API server at ${conn.server} refused: the exchanger's identity lacks RBAC permission ` +
      `'${need.verb}' on '${need.resource}' in namespace '${namespace}' (grant it with a Role and RoleBinding ` +
      'there: see deploy/kubernetes/)';
  } else if (answer.status === 401) {
    message =
      `the Kubernetes API server at ${conn.server} did not accept the exchanger's own credentials ` +
      `(${conn.source}): check JITKEY_KUBECONFIG or the in-cluster service account`;
  } else if (answer.status === 404) {
    const details = answer.body.details as { kind?: unknown; name?: unknown } | undefined;
    message =
      details?.kind === 'serviceaccounts'
        ? `service account '${String(details.name)}' does not exist in namespace '${namespace}' on ${conn.server}: create it or fix the role's service_account`
        : `namespace '${namespace}' does not exist on ${conn.server}: create it or fix the role's namespace`;
  } else {
    message = `the Kubernetes API server at ${conn.server} answered HTTP ${answer.status} to ${need.verb} ${need.resource}`;
  }
  return new JitkeyError('upstream_error', message, { detail });
}

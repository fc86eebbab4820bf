/**
 * `forbid_actions` of a Kubernetes role (issue 26, item 3): a request verb on a resource, as
 * RBAC names them and the API server's audit events record them:
 *
 *   delete secrets                                        (any API group, no subresource)
 *   create clusterrolebindings.rbac.authorization.k8s.io  (that group only)
 *   * pods/exec                                           (any verb on that subresource)
 *   patch deployments.apps/*                              (every subresource of deployments)
 *   delete *                                              (everything)
 *
 * Verbs are the eight an audit event records for a resource request; RBAC's extra verbs
 * (impersonate, bind, escalate, use…) are authorization checks, never an event's verb. As in an
 * RBAC rule, `pods` is not `pods/log`: a subresource is named or `resource/*`. Compared
 * case-insensitively.
 */

export const KUBERNETES_VERBS = [
  'get',
  'list',
  'watch',
  'create',
  'update',
  'patch',
  'delete',
  'deletecollection',
] as const;

const SHAPE = /^(\S+) +(\*|([a-z0-9-]+)((?:\.[a-z0-9-]+)*)(?:\/(\*|[a-z0-9-]+))?)$/;

/** One request as its audit event names it. */
export interface KubernetesRequest {
  verb: string;
  resource: string;
  /** '' for the core group. */
  group: string;
  subresource: string;
}

interface Pattern {
  verb: string;
  all: boolean;
  resource: string;
  group?: string;
  subresource?: string;
}

function parse(text: string): Pattern | string {
  const m = SHAPE.exec(text.trim().toLowerCase());
  if (!m) return 'it is not a verb and a resource';
  const verb = m[1]!;
  if (verb !== '*' && !(KUBERNETES_VERBS as readonly string[]).includes(verb)) {
    return `'${verb}' is not a verb an audit event records (${KUBERNETES_VERBS.join(', ')} or *)`;
  }
  if (m[2] === '*') return { verb, all: true, resource: '*' };
  return {
    verb,
    all: false,
    resource: m[3]!,
    ...(m[4] ? { group: m[4].slice(1) } : {}),
    ...(m[5] ? { subresource: m[5] } : {}),
  };
}

/** Why `text` is not a Kubernetes action, or undefined when it is one. */
export function kubernetesActionProblem(text: string): string | undefined {
  const p = parse(text);
  return typeof p === 'string' ? p : undefined;
}

/** Whether the forbidden action `pattern` (already validated) names this request. */
export function kubernetesActionMatches(pattern: string, r: KubernetesRequest): boolean {
  const p = parse(pattern);
  if (typeof p === 'string') return false;
  if (p.verb !== '*' && p.verb !== r.verb.toLowerCase()) return false;
  if (p.all) return true;
  if (p.resource !== r.resource.toLowerCase()) return false;
  if (p.group !== undefined && p.group !== r.group.toLowerCase()) return false;
  if (p.subresource === '*') return r.subresource !== '';
  return (p.subresource ?? '') === r.subresource.toLowerCase();
}

/** `deployments.apps/scale`: the resource as RBAC writes it, group and subresource included. */
export function kubernetesResourceName(r: Omit<KubernetesRequest, 'verb'>): string {
  return `${r.resource}${r.group ? `.${r.group}` : ''}${r.subresource ? `/${r.subresource}` : ''}`;
}

/** The reverse of `kubernetesResourceName`: the first dot starts the group (plurals have none). */
export function parseKubernetesResource(text: string): Omit<KubernetesRequest, 'verb'> {
  const [head = '', subresource = ''] = text.split('/', 2);
  const dot = head.indexOf('.');
  return dot < 0
    ? { resource: head, group: '', subresource }
    : { resource: head.slice(0, dot), group: head.slice(dot + 1), subresource };
}

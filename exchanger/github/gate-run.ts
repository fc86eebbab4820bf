/** A workflow run as the deployment gate reads it from GitHub's answers. */
import { JitkeyError } from '../errors.js';

export interface GateRun {
  id: string;
  attempt: string;
  /** The repository's id, as the run names it. */
  repositoryId?: string;
  /** `push`, `workflow_dispatch`, … */
  event: string;
  headSha: string;
  /** Branch (or tag) name, unqualified, as GitHub reports it on a run. */
  headBranch?: string;
  /** The workflow file, `.github/workflows/deploy.yml`. */
  path: string;
  actor?: { login: string; id: string };
  triggeringActor?: { login: string; id: string };
}

export function runOf(data: unknown): GateRun {
  const r = (data ?? {}) as Record<string, unknown>;
  const id = r.id;
  const attempt = r.run_attempt;
  if (typeof id !== 'number' || typeof attempt !== 'number') {
    throw new JitkeyError('upstream_error', 'GitHub described a workflow run without its id or run_attempt');
  }
  const user = (u: unknown) => {
    const x = u as { login?: unknown; id?: unknown } | null | undefined;
    return typeof x?.login === 'string' && typeof x.id === 'number'
      ? { login: x.login, id: String(x.id) }
      : undefined;
  };
  const actor = user(r.actor);
  const repositoryId = (r.repository as { id?: unknown } | undefined)?.id;
  const triggeringActor = user(r.triggering_actor);
  return {
    id: String(id),
    attempt: String(attempt),
    ...(typeof repositoryId === 'number' ? { repositoryId: String(repositoryId) } : {}),
    event: typeof r.event === 'string' ? r.event : '',
    headSha: typeof r.head_sha === 'string' ? r.head_sha : '',
    ...(typeof r.head_branch === 'string' ? { headBranch: r.head_branch } : {}),
    path: typeof r.path === 'string' ? r.path : '',
    ...(actor ? { actor } : {}),
    ...(triggeringActor ? { triggeringActor } : {}),
  };
}

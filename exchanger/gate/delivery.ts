/**
 * A `deployment_protection_rule` delivery (`action: requested`), read into what the gate needs:
 * which installation, repository, run and environment is waiting, and the deployment's sha, ref
 * and event. The run id comes from `deployment_callback_url`
 * (`https://api.github.com/repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule`),
 * whose repository must be the delivery's own: the callback is never called anywhere else.
 */
import { invalidRequest } from '../errors.js';

export interface GateDeployment {
  installationId: string;
  owner: string;
  repo: string;
  /** `owner/name` as the delivery spells it. */
  repository: string;
  repositoryId: string;
  runId: string;
  environment: string;
  /** The event that started the run (`push`, `workflow_dispatch`, …), when the delivery says. */
  event?: string;
  sha?: string;
  /** Fully qualified (`refs/heads/main`), or absent when GitHub sent none of that form. */
  ref?: string;
}

const CALLBACK = /^\/repos\/([^/]+)\/([^/]+)\/actions\/runs\/(\d{1,20})\/deployment_protection_rule$/;

export function parseGateDelivery(payload: Record<string, unknown>): GateDeployment {
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const num = (v: unknown) =>
    typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? String(v) : undefined;
  const repository = (payload.repository ?? {}) as { id?: unknown; full_name?: unknown };
  const installation = (payload.installation ?? {}) as { id?: unknown };
  const deployment = (payload.deployment ?? {}) as { sha?: unknown; ref?: unknown };
  const installationId = num(installation.id);
  const repositoryId = num(repository.id);
  const fullName = str(repository.full_name);
  const environment = str(payload.environment);
  const callback = str(payload.deployment_callback_url);
  if (!installationId || !repositoryId || !fullName || !environment || !callback) {
    throw invalidRequest(
      'deployment_protection_rule payload lacks installation.id, repository.id, repository.full_name, environment or deployment_callback_url',
    );
  }
  if (environment.length > 255 || /[\p{Cc}]/u.test(environment))
    throw invalidRequest('deployment_protection_rule: the environment name is not one GitHub allows');
  let path: string;
  try {
    path = decodeURIComponent(new URL(callback).pathname).replace(/^\/api\/v3(?=\/)/, '');
  } catch {
    throw invalidRequest('deployment_protection_rule: deployment_callback_url is not a URL');
  }
  const m = CALLBACK.exec(path);
  if (!m) {
    throw invalidRequest(
      'deployment_protection_rule: deployment_callback_url is not …/repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule',
    );
  }
  const [, owner = '', repo = '', runId = ''] = m;
  if (`${owner}/${repo}`.toLowerCase() !== fullName.toLowerCase()) {
    throw invalidRequest(
      "deployment_protection_rule: deployment_callback_url names another repository than the delivery's",
    );
  }
  const ref = str(payload.ref) ?? str(deployment.ref);
  const sha = str(payload.sha) ?? str(deployment.sha);
  const event = str(payload.event);
  return {
    installationId,
    owner,
    repo,
    repository: fullName,
    repositoryId,
    runId,
    environment,
    ...(event ? { event } : {}),
    ...(sha && /^[0-9a-f]{40}$/i.test(sha) ? { sha: sha.toLowerCase() } : {}),
    ...(ref?.startsWith('refs/') ? { ref } : {}),
  };
}

/**
 * Job-end revocation for GitLab and Buildkite (docs/ci-systems.md): their webhooks say a
 * pipeline or build finished, and its leases end as GitHub's `workflow_run completed` ends a run
 * attempt's (`leases/end-run.ts`).
 *
 * - POST /v1/gitlab/webhook: a project or group webhook with "Pipeline events", its secret token
 *   (`X-Gitlab-Token`) one of JITKEY_GITLAB_WEBHOOK_TOKENS_FILE's; the line it matched names the
 *   GitLab instance (the issuer url), so two instances never end each other's pipelines, and
 *   may name the project ids it speaks for (`projects=20,21`): the payload is the sender's own
 *   text, so a token handed to one team's project must not end another team's pipelines.
 * - POST /v1/buildkite/webhook: a Buildkite notification service with the `build.finished`
 *   event, its token (`X-Buildkite-Token`) one of JITKEY_BUILDKITE_WEBHOOK_TOKENS_FILE's; the
 *   line it matched names the organization (Buildkite's tokens share one issuer).
 * - Off unless the file is set: 404. The token is compared in constant time before a byte of the
 *   body is read: a wrong or missing one is 401 and the connection goes. Bodies up to 5 MiB.
 * - A finished pipeline (`success`, `failed`, `canceled`, `skipped`) or build (`build.finished`)
 *   is answered `200 {"revoked": N}`; other events and states `200 {"revoked": 0}` untouched.
 *   A second delivery finds the run already completed and its leases revoked: `{"revoked": 0}`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { buildkiteRun, gitlabRun } from '../ci-job.js';
import { hashSecret, secretMatches } from '../digest.js';
import { invalidRequest, invalidToken, JitkeyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AuditClient } from '../store/audit-types.js';
import type { RunKey } from '../store/runs-types.js';
import { readBodyStream, sendJson } from './http.js';

export const GITLAB_WEBHOOK_PATH = '/v1/gitlab/webhook';
export const BUILDKITE_WEBHOOK_PATH = '/v1/buildkite/webhook';
export const MAX_CI_WEBHOOK_BYTES = 5 * 1024 * 1024;

/** One configured sender: what its token proves (a GitLab instance, a Buildkite organization). */
export interface CiWebhookSender {
  /** The GitLab issuer url, or the Buildkite organization slug. */
  names: string;
  /** The token's SHA-256 (`digest.ts`): hashed once at load; the token itself is not kept. */
  tokenHash: string;
  /** GitLab: the project ids this token may end pipelines of; absent, any of the instance's. */
  projects?: ReadonlySet<string>;
}

export interface CiWebhookDeps {
  /** The senders (read once at start, `cli/ci-webhooks-from-env.ts`). Empty: the route is off (404). */
  senders: readonly CiWebhookSender[];
  /** Ends the run's leases (`leases/end-run.ts`), with the audit row's wording; returns how many. */
  endRun(
    run: RunKey,
    requestId: string,
    client: AuditClient,
    said: { reason: string; claims: Record<string, string> },
  ): Promise<number>;
}

export type CiWebhookHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  intake: { requestId: string; timeoutMs: number; admit(): void; client: AuditClient },
  log: Logger,
) => Promise<void>;

/** The sender whose token the header carries; every configured token is compared, in constant time each. */
function sender(senders: readonly CiWebhookSender[], header: string | string[] | undefined, name: string) {
  const given = typeof header === 'string' ? header : undefined;
  if (!given)
    throw invalidToken(`missing ${name} header: the webhook must carry one of this exchanger's tokens`);
  let found: CiWebhookSender | undefined;
  for (const s of senders) if (secretMatches(given, s.tokenHash) && !found) found = s;
  if (!found) throw invalidToken(`the ${name} is not one of this exchanger's webhook tokens`);
  return found;
}

async function readJson(req: IncomingMessage, timeoutMs: number): Promise<Record<string, unknown>> {
  const body = await readBodyStream(req, { limit: MAX_CI_WEBHOOK_BYTES, timeoutMs });
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw invalidRequest('the webhook body is not a JSON object');
}

const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
/** A positive whole number, or its decimal text. */
const id = (v: unknown): string | undefined =>
  (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) ||
  (typeof v === 'string' && /^\d{1,20}$/.test(v))
    ? String(v)
    : undefined;

const FINISHED = new Set(['success', 'failed', 'canceled', 'skipped']);

export function gitlabWebhookRoute(deps: CiWebhookDeps): CiWebhookHandler {
  return async (req, res, { requestId, timeoutMs, admit, client }, log) => {
    const from = sender(deps.senders, req.headers['x-gitlab-token'], 'X-Gitlab-Token');
    const instance = from.names;
    const body = await readJson(req, timeoutMs);
    admit();
    const pipeline = obj(body.object_attributes);
    const status = pipeline.status;
    if (body.object_kind !== 'pipeline' || typeof status !== 'string' || !FINISHED.has(status)) {
      sendJson(res, 200, { revoked: 0 });
      log.info('gitlab webhook', { revoked: 0 });
      return;
    }
    const [project, pipelineId] = [id(obj(body.project).id), id(pipeline.id)];
    if (!project || !pipelineId)
      throw invalidRequest('pipeline payload lacks project.id or object_attributes.id');
    if (from.projects && !from.projects.has(project)) {
      throw new JitkeyError(
        'access_denied',
        `this X-Gitlab-Token may end the pipelines of projects ${[...from.projects].join(', ')} only, not of project ${project}`,
      );
    }
    // The run as `ci-job.ts` keys a GitLab token's: instance, project id, pipeline id.
    const run = gitlabRun(instance, project, pipelineId);
    const revoked = await deps.endRun(run, requestId, client, {
      reason: `GitLab pipeline ${pipelineId} of project ${project} finished (${status}); revoking its leases`,
      claims: { iss: instance, project_id: project, pipeline_id: pipelineId },
    });
    sendJson(res, 200, { revoked });
    log.info('gitlab webhook', { revoked });
  };
}

export function buildkiteWebhookRoute(deps: CiWebhookDeps): CiWebhookHandler {
  return async (req, res, { requestId, timeoutMs, admit, client }, log) => {
    const org = sender(deps.senders, req.headers['x-buildkite-token'], 'X-Buildkite-Token').names;
    const body = await readJson(req, timeoutMs);
    admit();
    // A build stopped at a block step is sent as finished, with `blocked: true`: it goes on once
    // someone unblocks it, and the steps after the block still need their credentials.
    const build = obj(body.build);
    if (body.event !== 'build.finished' || build.blocked === true || build.state === 'blocked') {
      sendJson(res, 200, { revoked: 0 });
      log.info('buildkite webhook', { revoked: 0 });
      return;
    }
    const slug = obj(body.pipeline).slug;
    const number = id(build.number);
    if (typeof slug !== 'string' || !/^[a-z0-9][a-z0-9-]{0,99}$/.test(slug) || !number) {
      throw invalidRequest('build.finished payload lacks pipeline.slug or build.number');
    }
    // The run as `ci-job.ts` keys a Buildkite token's: organization and pipeline slugs, build number.
    const run = buildkiteRun(org, slug, number);
    const revoked = await deps.endRun(run, requestId, client, {
      reason: `Buildkite build ${org}/${slug} #${number} finished; revoking its leases`,
      claims: { organization_slug: org, pipeline_slug: slug, build_number: number },
    });
    sendJson(res, 200, { revoked });
    log.info('buildkite webhook', { revoked });
  };
}

function isIssuerUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === 'https:' || u.protocol === 'http:') && !text.endsWith('/') && !u.search && !u.hash;
  } catch {
    return false;
  }
}

/**
 * `JITKEY_GITLAB_WEBHOOK_TOKENS_FILE` / `JITKEY_BUILDKITE_WEBHOOK_TOKENS_FILE`: one sender a
 * line, `<GitLab issuer url | Buildkite organization slug> <token>`, and for GitLab (`projects`
 * true) optionally `projects=<id>,<id>`; `#` comments and blank lines skipped. A malformed line
 * is an error naming its number (never its token).
 */
export function parseSenders(
  text: string,
  file: string,
  options: { projects?: boolean } = {},
): CiWebhookSender[] {
  const out: CiWebhookSender[] = [];
  const form = options.projects
    ? "'<issuer url> <token> [projects=<id>,<id>…]'"
    : "'<organization slug> <token>'";
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const [names, token, scope, extra] = line.split(/\s+/);
    const ids = scope?.startsWith('projects=') ? scope.slice('projects='.length).split(',') : undefined;
    const scoped = scope === undefined || (options.projects && ids?.every((p) => /^\d{1,20}$/.test(p)));
    if (!names || !token || !scoped || extra !== undefined || token.length < 16) {
      throw new Error(`${file}:${i + 1}: write ${form} (a token of 16 characters or more)`);
    }
    // The run keys hold the token's own `iss` or slug byte for byte: a name written otherwise
    // (`https://gitlab.com/`, `Acme-Inc`) would match no run, and no webhook would end one.
    const named = options.projects ? isIssuerUrl(names) : /^[a-z0-9][a-z0-9-]{0,99}$/.test(names);
    if (!named) {
      throw new Error(
        options.projects
          ? `${file}:${i + 1}: '${names}' is not a GitLab issuer url as its tokens' iss writes it (https://host, no trailing /)`
          : `${file}:${i + 1}: '${names}' is not a Buildkite organization slug (lowercase letters, digits and -)`,
      );
    }
    out.push({ names, tokenHash: hashSecret(token), ...(ids ? { projects: new Set(ids) } : {}) });
  });
  return out;
}

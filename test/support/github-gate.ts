/**
 * GitHub's deployment gate, grown onto the GitHub stand-in (`github-standin.ts`): jobs that target
 * a protected environment wait until every custom protection rule approved, as on GitHub.
 *
 *   const gate = githubGate(gh, { appId: gh.appId, repositories: { 'acme/web': 123456 }, rules: { 'acme/web': ['production'] } });
 *   const job = gate.hold({ runId: 7001, environment: 'production', actor: { login: 'octocat', id: 1 } });
 *   await gate.deliver(job, exchanger.url, SECRET);        // the signed deployment_protection_rule delivery
 *   gate.reviews                                            // every POST …/deployment_protection_rule, in order
 *   job.state                                               // 'waiting' | 'approved' | 'rejected'; job.started
 *   gate.rerun(job, { login: 'alice', id: 1001 })           // a new attempt, waiting again, started by alice
 *
 * Routes (installation token of the repository's installation; 403 without the permission named):
 * - `POST /repos/{o}/{r}/actions/runs/{id}/deployment_protection_rule` `{environment_name, state?, comment}`
 *   (deployments: write): 422 when no job of the run's latest attempt waits on that environment,
 *   a comment over 1,024 characters, a state other than approved/rejected, or an 11th status report
 *   for the deployment; 204 and recorded otherwise. `approved` starts the job, `rejected` ends it.
 * - `GET /repos/{o}/{r}/actions/runs/{id}` (actions: read): the latest attempt.
 * - `GET /repos/{o}/{r}/actions/runs?status=waiting`, `…/runs/{id}/pending_deployments` (actions: read).
 * - `GET /repos/{o}/{r}/environments/{env}/deployment_protection_rules` (actions: read): this App
 *   as an enabled custom rule where `rules` says so.
 * - `GET /app/installations` (App JWT), `GET /installation/repositories` (installation token).
 */
import type { GithubIssuedToken, GithubStandin, StandinRoute } from './github-standin.js';
import { type DeliveryOptions, deliverWebhook } from './github-webhook.js';

export interface GateJob {
  repository: string;
  runId: number;
  attempt: number;
  environment: string;
  sha: string;
  ref: string;
  event: string;
  workflowPath: string;
  actor: { login: string; id: number };
  triggeringActor: { login: string; id: number };
  state: 'waiting' | 'approved' | 'rejected';
  /** GitHub started the job: every protection rule approved. */
  started: boolean;
  statusReports: number;
}

export interface GateReview {
  repository: string;
  runId: number;
  attempt: number;
  environment: string;
  state?: string;
  comment: string;
  installationId: number;
}

export interface GithubGate {
  reviews: GateReview[];
  hold(job: Partial<GateJob> & { runId: number }): GateJob;
  /** A re-run: the same run, attempt + 1, waiting again, started by `by`. */
  rerun(job: GateJob, by: { login: string; id: number }): GateJob;
  /** The delivery GitHub sends for `job` (signed with `secret`); `payload` parts may be overridden. */
  payload(job: GateJob): Record<string, unknown>;
  deliver(
    job: GateJob,
    exchangerUrl: string,
    secret: string,
    options?: DeliveryOptions,
  ): Promise<{ status: number; body: unknown }>;
}

export const GATE_SHA = 'a'.repeat(40);

export function githubGate(
  gh: GithubStandin,
  options: { repositories: Record<string, number>; rules: Record<string, string[]> },
): GithubGate {
  const jobs: GateJob[] = [];
  const reviews: GateReview[] = [];
  const lc = (s: string) => s.toLowerCase();
  const installationOf = (repository: string) => {
    const [owner = '', name = ''] = repository.split('/');
    return gh
      .installations()
      .find((i) => lc(i.owner) === lc(owner) && i.repositories.some((r) => lc(r) === lc(name)));
  };
  const latest = (repository: string, runId: number) =>
    jobs
      .filter((j) => lc(j.repository) === lc(repository) && j.runId === runId)
      .sort((a, b) => b.attempt - a.attempt)[0];
  const user = (u: { login: string; id: number }) => ({ login: u.login, id: u.id, type: 'User' });
  const runJson = (j: GateJob) => ({
    id: j.runId,
    run_attempt: j.attempt,
    status: j.state === 'waiting' ? 'waiting' : 'in_progress',
    event: j.event,
    head_sha: j.sha,
    head_branch: j.ref.replace(/^refs\/(heads|tags)\//, ''),
    path: j.workflowPath,
    repository: { id: options.repositories[j.repository], full_name: j.repository },
    actor: user(j.actor),
    triggering_actor: user(j.triggeringActor),
  });
  const forbidden: [number, unknown] = [403, { message: 'Resource not accessible by integration' }];
  const covers = (
    token: GithubIssuedToken | undefined,
    repository: string,
    permission: string,
    level = 'read',
  ) => {
    const [owner = '', name = ''] = repository.split('/');
    return (
      token !== undefined &&
      lc(token.owner) === lc(owner) &&
      token.repositories.some((r) => lc(r) === lc(name)) &&
      (level === 'read'
        ? token.permissions[permission] !== undefined
        : token.permissions[permission] === 'write')
    );
  };

  const route: StandinRoute = ({ method, path, query, auth, body, token }) => {
    if (method === 'GET' && path === '/app/installations') {
      if (auth.kind !== 'app') return [401, { message: 'A JSON web token could not be decoded' }];
      return [200, gh.installations().map((i) => ({ id: i.id, account: { login: i.owner, type: i.type } }))];
    }
    if (method === 'GET' && path === '/installation/repositories') {
      if (!token) return [401, { message: 'Bad credentials' }];
      const repositories = token.repositories.map((name) => {
        const full = `${token.owner}/${name}`;
        const id = Object.entries(options.repositories).find(([r]) => lc(r) === lc(full))?.[1] ?? 0;
        return { id, name, full_name: full, owner: { login: token.owner } };
      });
      return [200, { total_count: repositories.length, repositories }];
    }
    const m = /^\/repos\/([^/]+\/[^/]+)\/(.*)$/.exec(path);
    if (!m) return undefined;
    const [, repository = '', rest = ''] = m;
    const review = /^actions\/runs\/(\d+)\/deployment_protection_rule$/.exec(rest);
    if (method === 'POST' && review) {
      if (!covers(token, repository, 'deployments', 'write')) return forbidden;
      const b = (body ?? {}) as { environment_name?: unknown; state?: unknown; comment?: unknown };
      const job = latest(repository, Number(review[1]));
      if (
        typeof b.environment_name !== 'string' ||
        !job ||
        job.state !== 'waiting' ||
        lc(job.environment) !== lc(b.environment_name)
      ) {
        return [422, { message: 'No pending deployment protection rule for this environment' }];
      }
      if (typeof b.comment === 'string' && b.comment.length > 1024)
        return [422, { message: 'comment is too long' }];
      if (b.state !== undefined && b.state !== 'approved' && b.state !== 'rejected')
        return [422, { message: 'invalid state' }];
      if (b.state === undefined && ++job.statusReports > 10)
        return [422, { message: 'too many status reports' }];
      reviews.push({
        repository,
        runId: job.runId,
        attempt: job.attempt,
        environment: job.environment,
        ...(typeof b.state === 'string' ? { state: b.state } : {}),
        comment: String(b.comment ?? ''),
        installationId: token!.installationId,
      });
      if (b.state === 'approved') {
        job.state = 'approved';
        job.started = true;
      } else if (b.state === 'rejected') job.state = 'rejected';
      return [204, undefined];
    }
    if (method !== 'GET') return undefined;
    if (!covers(token, repository, 'actions')) return forbidden;
    const run = /^actions\/runs\/(\d+)$/.exec(rest);
    if (run) {
      const job = latest(repository, Number(run[1]));
      return job ? [200, runJson(job)] : [404, { message: 'Not Found' }];
    }
    if (rest === 'actions/runs') {
      const runs = [...new Set(jobs.map((j) => j.runId))]
        .map((id) => latest(repository, id))
        .filter(
          (j): j is GateJob =>
            j !== undefined && (query.get('status') !== 'waiting' || j.state === 'waiting'),
        );
      return [200, { total_count: runs.length, workflow_runs: runs.map(runJson) }];
    }
    const pending = /^actions\/runs\/(\d+)\/pending_deployments$/.exec(rest);
    if (pending) {
      const job = latest(repository, Number(pending[1]));
      return [
        200,
        job?.state === 'waiting'
          ? [
              {
                environment: { id: 1, name: job.environment },
                wait_timer: 0,
                current_user_can_approve: false,
                reviewers: [],
              },
            ]
          : [],
      ];
    }
    const rules = /^environments\/([^/]+)\/deployment_protection_rules$/.exec(rest);
    if (rules) {
      const on = Object.entries(options.rules).some(
        ([r, envs]) => lc(r) === lc(repository) && envs.some((e) => lc(e) === lc(rules[1]!)),
      );
      const list = on
        ? [{ id: 1, node_id: 'CDPR_1', enabled: true, app: { id: Number(gh.appId), slug: 'jitkey' } }]
        : [];
      return [200, { total_count: list.length, custom_deployment_protection_rules: list }];
    }
    return undefined;
  };
  gh.addRoute(route);

  const add = (job: GateJob) => {
    jobs.push(job);
    gh.setRunAttempt(job.repository, String(job.runId), String(job.attempt), {
      actor: job.actor,
      triggering_actor: job.triggeringActor,
    });
    return job;
  };

  return {
    reviews,
    hold(partial) {
      const actor = partial.actor ?? { login: 'octocat', id: 1 };
      return add({
        repository: 'acme/web',
        attempt: 1,
        environment: 'production',
        sha: GATE_SHA,
        ref: 'refs/heads/main',
        event: 'push',
        workflowPath: '.github/workflows/deploy.yml',
        triggeringActor: actor,
        state: 'waiting',
        started: false,
        statusReports: 0,
        ...partial,
        actor,
      });
    },
    rerun(job, by) {
      return add({
        ...job,
        attempt: job.attempt + 1,
        triggeringActor: by,
        state: 'waiting',
        started: false,
        statusReports: 0,
      });
    },
    payload(job) {
      const installation = installationOf(job.repository);
      return {
        action: 'requested',
        environment: job.environment,
        event: job.event,
        sha: job.sha,
        ref: job.ref,
        deployment_callback_url: `${gh.url}/repos/${job.repository}/actions/runs/${job.runId}/deployment_protection_rule`,
        deployment: {
          id: 77,
          sha: job.sha,
          ref: job.ref.replace(/^refs\/heads\//, ''),
          environment: job.environment,
        },
        repository: { id: options.repositories[job.repository], full_name: job.repository },
        installation: { id: installation?.id },
        sender: { login: job.triggeringActor.login },
      };
    },
    deliver(job, exchangerUrl, secret, deliveryOptions = {}) {
      return deliverWebhook(exchangerUrl, secret, this.payload(job), {
        event: 'deployment_protection_rule',
        ...deliveryOptions,
      });
    },
  };
}

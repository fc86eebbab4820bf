/**
 * What job a token (or an audit row's claims) speaks for, in its own CI system's terms: the run
 * its leases belong to, and a name and link for people. The system is told from the claims
 * (`claims.ts` `jobKind`): an audit row is named without the policy at hand.
 */
import { CIRCLECI, type IssuerKind } from './ci-kinds.js';
import { type Claims, jobKind, ownClaim, claimText as text } from './claims.js';
import { isLoopbackHost } from './net/url-rule.js';

const PROJECT_ID = `${CIRCLECI}project-id`;
const VCS_ORIGIN = `${CIRCLECI}vcs-origin`;
const VCS_REF = `${CIRCLECI}vcs-ref`;

/** A run as the store keys it (`RunKey`). */
type JobRun = { repositoryId: string; runId: string; runAttempt: string };

/**
 * The run a token's leases belong to, for per-run limits and run-end revocation, as the store
 * keys runs (`repository_id`, `run_id`, `run_attempt`). GitHub: its own three claims. GitLab: the
 * instance and project id, the pipeline. Buildkite: organization and pipeline slugs (the claims
 * every token of a build carries; the ids are optional per request), the build number. Neither
 * has attempts (a retried job runs in the same pipeline or build): attempt `1`. CircleCI tokens
 * name no workflow or job, so they belong to no run (docs/ci-systems.md).
 */
export function jobRun(claims: Claims): JobRun | undefined {
  const kind = jobKind(claims);
  const get = (name: string) => {
    const v = text(claims, name);
    return v ? v : undefined;
  };
  if (kind === 'github') {
    const [repositoryId, runId, runAttempt] = ['repository_id', 'run_id', 'run_attempt'].map((n) => {
      const v = ownClaim(claims, n);
      return typeof v === 'string' && v ? v : undefined;
    });
    return repositoryId && runId && runAttempt ? { repositoryId, runId, runAttempt } : undefined;
  }
  if (kind === 'gitlab') {
    const [iss, project, pipeline] = [get('iss'), get('project_id'), get('pipeline_id')];
    return iss && project && pipeline ? gitlabRun(iss, project, pipeline) : undefined;
  }
  if (kind === 'buildkite') {
    const [org, pipeline, build] = [get('organization_slug'), get('pipeline_slug'), get('build_number')];
    return org && pipeline && build ? buildkiteRun(org, pipeline, build) : undefined;
  }
  return undefined;
}

/** A GitLab pipeline's run key; the GitLab webhook (`server/ci-webhooks.ts`) ends runs by it. */
export function gitlabRun(iss: string, projectId: string, pipelineId: string): JobRun {
  return { repositoryId: `gitlab:${iss}/projects/${projectId}`, runId: pipelineId, runAttempt: '1' };
}

/** A Buildkite build's run key; the Buildkite webhook ends runs by it. */
export function buildkiteRun(org: string, pipelineSlug: string, buildNumber: string): JobRun {
  return { repositoryId: `buildkite:${org}/${pipelineSlug}`, runId: buildNumber, runAttempt: '1' };
}

/** A job named for people: its system, project, run and job, and a link to it where one can be made. */
export interface JobName {
  kind: IssuerKind;
  system: string;
  /** `acme/web` (GitHub, GitLab), `acme-inc/deploy` (Buildkite org/pipeline), CircleCI's repository or project id. */
  project?: string;
  /** `run 987 attempt 1`, `pipeline 574`, `build 12`. */
  run?: string;
  /** `job 302`, `job 0184…`. */
  job?: string;
  ref?: string;
  /** Who started it, as the system names them. */
  actor?: string;
  /** The job's (or run's, or project's) page; only ever http(s). */
  url?: string;
}

const SYSTEM: Record<IssuerKind, string> = {
  github: 'GitHub Actions',
  gitlab: 'GitLab CI/CD',
  buildkite: 'Buildkite',
  circleci: 'CircleCI',
};

/** `https://…` or loopback `http://…` only: a claim is never made into a `javascript:` link. */
function webBase(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    const u = new URL(value);
    const ok = u.protocol === 'https:' || (u.protocol === 'http:' && isLoopbackHost(u.hostname));
    return ok ? value.replace(/\/+$/, '') : undefined;
  } catch {
    return undefined;
  }
}

const seg = (s: string) => s.split('/').map(encodeURIComponent).join('/');

export function jobName(claims: Readonly<Record<string, unknown>>): JobName {
  const kind = jobKind(claims);
  const get = (name: string) => text(claims, name) || undefined;
  const base = { kind, system: SYSTEM[kind] };
  const named = (fields: Omit<JobName, 'kind' | 'system'>): JobName => {
    const out: JobName = { ...base };
    for (const [k, v] of Object.entries(fields)) if (v) (out as unknown as Record<string, string>)[k] = v;
    return out;
  };
  if (kind === 'gitlab') {
    const project = get('project_path');
    const job = get('job_id');
    const pipeline = get('pipeline_id');
    const iss = webBase(get('iss'));
    const url =
      iss && project && job
        ? `${iss}/${seg(project)}/-/jobs/${encodeURIComponent(job)}`
        : iss && project && pipeline
          ? `${iss}/${seg(project)}/-/pipelines/${encodeURIComponent(pipeline)}`
          : undefined;
    return named({
      project,
      run: pipeline && `pipeline ${pipeline}`,
      job: job && `job ${job}`,
      ref: get('ref'),
      actor: get('user_login'),
      url,
    });
  }
  if (kind === 'buildkite') {
    const org = get('organization_slug');
    const pipeline = get('pipeline_slug');
    const build = get('build_number');
    const job = get('job_id');
    const url =
      org && pipeline && build
        ? `https://buildkite.com/${encodeURIComponent(org)}/${encodeURIComponent(pipeline)}/builds/${encodeURIComponent(build)}${job ? `#${encodeURIComponent(job)}` : ''}`
        : undefined;
    return named({
      project: org && pipeline ? `${org}/${pipeline}` : org,
      run: build && `build ${build}`,
      job: job && `job ${job}`,
      ref: get('build_branch'),
      url,
    });
  }
  if (kind === 'circleci') {
    const origin = get(VCS_ORIGIN);
    const projectId = get(PROJECT_ID);
    const org = /\/org\/([0-9a-fA-F-]{36})$/.exec(get('iss') ?? '')?.[1];
    return named({
      project: origin ?? projectId,
      ref: get(VCS_REF),
      // CircleCI's tokens name no pipeline, workflow or job: the project's pipelines are the link.
      url: circleciProjectUrl(origin, org, projectId),
    });
  }
  const repository = get('repository');
  const runId = get('run_id');
  const attempt = get('run_attempt');
  return named({
    project: repository,
    run: runId && `run ${runId}${attempt ? ` attempt ${attempt}` : ''}`,
    ref: get('ref'),
    actor: get('actor'),
  });
}

/** CircleCI's project page: by VCS slug for GitHub and Bitbucket origins, else by org and project id. */
function circleciProjectUrl(origin?: string, org?: string, projectId?: string): string | undefined {
  const m = /^(github\.com|bitbucket\.org)\/([^/]+)\/([^/]+)$/.exec(origin ?? '');
  if (m) {
    const vcs = m[1] === 'github.com' ? 'gh' : 'bb';
    return `https://app.circleci.com/pipelines/${vcs}/${encodeURIComponent(m[2]!)}/${encodeURIComponent(m[3]!)}`;
  }
  if (org && projectId && /^[0-9a-fA-F-]{36}$/.test(projectId)) {
    return `https://app.circleci.com/pipelines/circleci/${org}/${projectId}`;
  }
  return undefined;
}

/** One line for people: `GitLab CI/CD acme/web pipeline 574 job 302 (main)`. */
export function describeJob(claims: Readonly<Record<string, unknown>>): string {
  const j = jobName(claims);
  const parts = [j.system, j.project, j.run, j.job].filter(Boolean);
  return `${parts.join(' ')}${j.ref ? ` (${j.ref})` : ''}`;
}

/**
 * The claims a token must repeat to speak for the same job run as another (an approval's
 * redemption): GitHub's issuer (GitHub.com or a GHES, whose ids may coincide) and run attempt; GitLab's instance, project and pipeline; Buildkite's
 * organization, pipeline and build. CircleCI's tokens name no run: the same organization
 * (`iss`), project and `sub` (its user, and in V2 tokens its repository and ref), which any job
 * of that user on that ref shares (docs/ci-systems.md).
 */
export function sameJobClaims(claims: Readonly<Record<string, unknown>>): readonly string[] {
  return SAME_JOB[jobKind(claims)];
}

const SAME_JOB: Record<IssuerKind, readonly string[]> = {
  github: ['iss', 'repository_id', 'run_id', 'run_attempt'],
  gitlab: ['iss', 'project_id', 'pipeline_id'],
  buildkite: ['organization_slug', 'pipeline_slug', 'build_number'],
  circleci: ['iss', PROJECT_ID, 'sub'],
};

/**
 * The claims an audit row names a lease's job by, in its own system's terms, from what the lease
 * keeps (its project and run key: `jobRun`), for a GitLab pipeline or a Buildkite build; undefined
 * for the rest. A lease keeps no claims or system: a CircleCI lease (it has no run) cannot be told
 * from a GitHub one and stays a `repository`.
 */
export function leaseJobClaims(lease: {
  repository?: string;
  repositoryId?: string;
  runId?: string;
}): Record<string, string> | undefined {
  const { repositoryId: key, runId } = lease;
  if (!key || !runId) return undefined;
  if (key.startsWith('gitlab:')) {
    const at = key.lastIndexOf('/projects/');
    if (at < 0) return undefined;
    return {
      iss: key.slice('gitlab:'.length, at),
      project_id: key.slice(at + '/projects/'.length),
      ...(lease.repository ? { project_path: lease.repository } : {}),
      pipeline_id: runId,
    };
  }
  if (key.startsWith('buildkite:')) {
    const [org, pipeline] = key.slice('buildkite:'.length).split('/');
    if (!org || !pipeline) return undefined;
    return { organization_slug: org, pipeline_slug: pipeline, build_number: runId };
  }
  return undefined;
}

/**
 * Which run ended, and who said so: `run 9 attempt 1` (GitHub sent workflow_run completed),
 * `GitLab pipeline 574` (its pipeline webhook), `Buildkite build acme/app #12` (its webhook).
 */
export function endedRun(run: { repositoryId: string; runId: string; runAttempt: string }): {
  what: string;
  why: string;
  /** What gets credentials again: a retried GitLab or Buildkite job stays in its finished run. */
  again: string;
} {
  if (run.repositoryId.startsWith('gitlab:')) {
    return {
      what: `GitLab pipeline ${run.runId}`,
      why: 'its pipeline webhook said it finished',
      again: 'run a new pipeline (a job retried in this one stays in it)',
    };
  }
  if (run.repositoryId.startsWith('buildkite:')) {
    const pipeline = run.repositoryId.slice('buildkite:'.length);
    return {
      what: `Buildkite build ${pipeline} #${run.runId}`,
      why: 'its webhook said it finished',
      again: 'start a new build (a job retried in this one stays in it)',
    };
  }
  return {
    what: `run ${run.runId} attempt ${run.runAttempt}`,
    why: 'GitHub sent workflow_run completed',
    again: 're-run the job for a new attempt',
  };
}

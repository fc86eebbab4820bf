/**
 * The GitHub calls of the deployment gate (custom deployment protection rules), as the App:
 * installation tokens by the installation id a delivery names, the run a deployment waits in,
 * the answer (`POST …/actions/runs/{id}/deployment_protection_rule`), and what the reconciler
 * reads (installations, their repositories, waiting runs, their pending deployments). The calls
 * themselves, and the pause GitHub's rate limit puts on them: `gate-api.ts`.
 */
import { JitkeyError } from '../errors.js';
import { createGateApi, type GateAnswer, type GateGithubOptions } from './gate-api.js';
import { type GateRun, runOf } from './gate-run.js';

export interface GateReview {
  environment_name: string;
  /** Absent for a status report. */
  state?: 'approved' | 'rejected';
  comment: string;
}

export interface GateGithub {
  getRun(installationId: string, owner: string, repo: string, runId: string): Promise<GateRun>;
  review(
    installationId: string,
    owner: string,
    repo: string,
    runId: string,
    review: GateReview,
  ): Promise<void>;
  installations(): Promise<Array<{ id: string; owner: string }>>;
  repositories(installationId: string): Promise<Array<{ owner: string; name: string; id: string }>>;
  waitingRuns(installationId: string, owner: string, repo: string): Promise<GateRun[]>;
  /** The environments a run's jobs wait on. */
  pendingEnvironments(installationId: string, owner: string, repo: string, runId: string): Promise<string[]>;
  /** Is this App (by its id, from `GET /app`) an enabled custom protection rule of the environment? */
  isRuleOf(installationId: string, owner: string, repo: string, environment: string): Promise<boolean>;
  /** When the rate limit lets calls through again (ms since the epoch); 0 when it does now. */
  pausedUntil(): number;
}

const PAGE = 100;
/** Pages read of one listing at most: the reconciler is a backstop, not an inventory. */
const MAX_PAGES = 10;

/** Every item of a listing, page by page while GitHub says more follow (up to MAX_PAGES). */
async function listed<T>(
  read: (page: string) => Promise<GateAnswer>,
  items: (data: unknown) => Iterable<T>,
): Promise<T[]> {
  const out: T[] = [];
  for (let page = 1; page <= MAX_PAGES; page++) {
    const { data, next } = await read(`per_page=${PAGE}&page=${page}`);
    out.push(...items(data));
    if (!next) break;
  }
  return out;
}

function* installationsOf(data: unknown): Iterable<{ id: string; owner: string }> {
  for (const i of Array.isArray(data) ? data : []) {
    const id = (i as { id?: unknown }).id;
    const owner = (i as { account?: { login?: unknown } }).account?.login;
    if (typeof id === 'number' && typeof owner === 'string') yield { id: String(id), owner };
  }
}

function* repositoriesOf(data: unknown): Iterable<{ owner: string; name: string; id: string }> {
  for (const r of (data as { repositories?: unknown[] } | undefined)?.repositories ?? []) {
    const { id, name, owner } = r as { id?: unknown; name?: unknown; owner?: { login?: unknown } };
    if (typeof id === 'number' && typeof name === 'string' && typeof owner?.login === 'string') {
      yield { owner: owner.login, name, id: String(id) };
    }
  }
}

function* runsOf(data: unknown): Iterable<GateRun> {
  for (const r of (data as { workflow_runs?: unknown[] } | undefined)?.workflow_runs ?? []) {
    try {
      yield runOf(r);
    } catch {
      // a run GitHub described without its id or attempt is skipped
    }
  }
}

export function createGateGithub(options: GateGithubOptions): GateGithub {
  const { asApp, asInstallation, pausedUntil } = createGateApi(options);
  let appNumber: Promise<number> | undefined;

  const repoPath = (owner: string, repo: string) =>
    `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`;

  return {
    async getRun(installationId, owner, repo, runId) {
      const { data } = await asInstallation(
        installationId,
        'GET',
        `${repoPath(owner, repo)}/actions/runs/${encodeURIComponent(runId)}`,
        `reading run ${runId} of ${owner}/${repo}`,
      );
      return runOf(data);
    },

    async review(installationId, owner, repo, runId, review) {
      await asInstallation(
        installationId,
        'POST',
        `${repoPath(owner, repo)}/actions/runs/${encodeURIComponent(runId)}/deployment_protection_rule`,
        `answering the deployment gate of run ${runId} of ${owner}/${repo}`,
        review,
      );
    },

    installations: () =>
      listed(
        (page) => asApp('GET', `/app/installations?${page}`, "listing the App's installations"),
        installationsOf,
      ),

    repositories: (installationId) =>
      listed(
        (page) =>
          asInstallation(
            installationId,
            'GET',
            `/installation/repositories?${page}`,
            `listing the repositories of installation ${installationId}`,
          ),
        repositoriesOf,
      ),

    waitingRuns: (installationId, owner, repo) =>
      listed(
        (page) =>
          asInstallation(
            installationId,
            'GET',
            `${repoPath(owner, repo)}/actions/runs?status=waiting&${page}`,
            `listing the waiting runs of ${owner}/${repo}`,
          ),
        runsOf,
      ),

    async pendingEnvironments(installationId, owner, repo, runId) {
      const { data } = await asInstallation(
        installationId,
        'GET',
        `${repoPath(owner, repo)}/actions/runs/${encodeURIComponent(runId)}/pending_deployments`,
        `reading the pending deployments of run ${runId} of ${owner}/${repo}`,
      );
      const names = new Set<string>();
      for (const d of Array.isArray(data) ? data : []) {
        const name = (d as { environment?: { name?: unknown } }).environment?.name;
        if (typeof name === 'string') names.add(name);
      }
      return [...names];
    },

    async isRuleOf(installationId, owner, repo, environment) {
      appNumber ??= asApp('GET', '/app', 'reading the App (GET /app)').then(({ data }) => {
        const id = (data as { id?: unknown } | undefined)?.id;
        if (typeof id !== 'number') throw new JitkeyError('upstream_error', 'GET /app answered no id');
        return id;
      });
      appNumber.catch(() => {
        appNumber = undefined;
      });
      const mine = await appNumber;
      const { data } = await asInstallation(
        installationId,
        'GET',
        `${repoPath(owner, repo)}/environments/${encodeURIComponent(environment)}/deployment_protection_rules`,
        `reading the protection rules of environment ${environment} of ${owner}/${repo}`,
      );
      const rules =
        (data as { custom_deployment_protection_rules?: unknown[] } | undefined)
          ?.custom_deployment_protection_rules ?? [];
      return rules.some((r) => {
        const x = r as { enabled?: unknown; app?: { id?: unknown } };
        return x.enabled !== false && x.app?.id === mine;
      });
    },

    pausedUntil,
  };
}

/**
 * GitHub's deployment gate (custom deployment protection rules), answered by jitkey's approvals.
 *
 * A `deployment_protection_rule` delivery (or the reconciler, for one GitHub never delivered)
 * names a run waiting to deploy to an environment. The gate reads the run (its attempt, actor,
 * workflow), finds the roles with `approval.gate` whose rules grant that deployment, opens one
 * approval request per role (bound to the run attempt, environment, sha and workflow) and answers
 * GitHub once every one is approved (`approved`) or one is denied or expires (`rejected`), with
 * status reports as approvals arrive. A deployment no gated role applies to is rejected: nobody
 * is named to approve it. Every answer, and every failed one, is audited (`gate` rows).
 */

import { approvalConfig } from '../approvals/context.js';
import { oneAtATime } from '../approvals/one-at-a-time.js';
import { effectiveStatus } from '../approvals/state.js';
import { identifyingClaims } from '../claims.js';
import { JitkeyError } from '../errors.js';
import { equalsAscii } from '../policy/model/glob.js';
import type { ApprovalRequestRecord, ApprovalStatus } from '../store/approvals-types.js';
import type { AuditEntry } from '../store/audit-types.js';
import type { RunKey } from '../store/runs-types.js';
import { answerer } from './answer.js';
import { GATE_CLAIM, gateClaims, gatedRoles, stillGates } from './claims.js';
import {
  approvedComment,
  type GateRequestLine,
  noRoleComment,
  rejectedComment,
  statusComment,
} from './comment.js';
import type { GateDeployment } from './delivery.js';
import { openGateRequest } from './open-request.js';
import type { GateDeps, GateGroup } from './types.js';
import { checkDeliveryAgainstRun, closeIfSuperseded, gateStatus } from './verify.js';

/** How long the jobs of an approved deployment may redeem its approval (a hosted job's longest run). */
export const GATE_REDEEM_WINDOW_SECONDS = 6 * 60 * 60;
/** GitHub takes 10 status reports per deployment; the last is left unused. */
export const MAX_STATUS_REPORTS = 9;
const ALL: ApprovalStatus[] = ['pending', 'approved', 'denied', 'expired', 'redeemed'];

/** Per deployment: status reports sent, the last one's text, and what this process answered. */
type Seen = { sent: number; last: string; answered?: string };

const groupKey = (g: GateGroup) =>
  `${g.run.repositoryId}/${g.run.runId}/${g.run.runAttempt}/${g.environment.toLowerCase()}`;

export function isGateRequest(r: Pick<ApprovalRequestRecord, 'claims'>): boolean {
  return typeof r.claims[GATE_CLAIM] === 'string';
}

export function groupOf(r: ApprovalRequestRecord): GateGroup | undefined {
  const [owner = '', repo = ''] = (r.claims.repository ?? '').split('/');
  const { repository_id: repositoryId, run_id: runId, run_attempt: runAttempt, environment } = r.claims;
  const installationId = r.claims[GATE_CLAIM];
  if (!installationId || !owner || !repo || !repositoryId || !runId || !runAttempt || !environment)
    return undefined;
  return { installationId, owner, repo, run: { repositoryId, runId, runAttempt }, environment };
}

export interface GateCore {
  /** The work of one delivery (or one deployment the reconciler found); resolves when answered. */
  /**
   * `answerAgain`: a decided deployment is answered even if this process answered it before (a
   * new delivery asks again; the reconciler, which sees runs waiting on other rules too, does not).
   */
  handle(d: GateDeployment, requestId: string, options?: { answerAgain?: boolean }): Promise<void>;
  /** Looks at a request's deployment again (after a decision, an expiry) and answers if it can. */
  settleRequest(id: string, options?: { force?: boolean }): Promise<void>;
  /** The gate requests of one run attempt and environment, every status. */
  requestsOf(run: RunKey, environment: string): Promise<ApprovalRequestRecord[]>;
}

export function createGateCore(deps: GateDeps): GateCore {
  const { store } = deps;
  const reports = new Map<string, Seen>();
  /** One deployment is worked on by one task at a time (a delivery and the reconciler may meet). */
  const serial = oneAtATime();

  const requestsOf: GateCore['requestsOf'] = async (run, environment) =>
    (await store.listApprovalRequests({ statuses: ALL, run, limit: 200 })).filter(
      (r) => isGateRequest(r) && equalsAscii(r.claims.environment ?? '', environment, true),
    );

  const post = answerer(deps);

  /**
   * One request per role: the most advanced, oldest first (two processes may have opened two). A
   * denial outranks an approval of the other: an approver's "no" is not undone by another's "yes".
   */
  const perRole = (requests: ApprovalRequestRecord[]) => {
    const rank: Record<ApprovalStatus, number> = {
      denied: 4,
      redeemed: 3,
      approved: 2,
      expired: 1,
      pending: 0,
    };
    const now = deps.now();
    const best = new Map<string, ApprovalRequestRecord>();
    for (const r of [...requests].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())) {
      const had = best.get(r.role);
      if (!had || rank[effectiveStatus(r, now)] > rank[effectiveStatus(had, now)]) best.set(r.role, r);
    }
    return [...best.values()];
  };

  /** Keeps an approved gate request redeemable for the deployment's jobs, not just the in-job window. */
  const lengthen = async (r: ApprovalRequestRecord) => {
    const approvedAt = Math.max(...r.approvals.map((v) => v.at.getTime()));
    const until = new Date(approvedAt + GATE_REDEEM_WINDOW_SECONDS * 1000);
    if (r.status !== 'approved' || r.expiresAt >= until) return;
    const row: AuditEntry = {
      at: deps.now(),
      requestId: r.id,
      event: 'gate',
      outcome: 'allowed',
      role: r.role,
      reason: `approved at the deployment gate: the jobs of run ${r.claims.run_id} attempt ${r.claims.run_attempt} in environment ${r.claims.environment} may use it until ${until.toISOString()}`,
      claims: identifyingClaims(r.claims),
      expiresAt: until,
    };
    await store.updateApprovalRequest(r.id, r.version, { ...r, expiresAt: until }, row);
  };

  /** The final answer, once per state unless forced; none for an attempt a re-run has followed. */
  const answer = async (
    g: GateGroup,
    seen: Seen,
    state: 'approved' | 'rejected',
    comment: string,
    row: { requestId: string; role: string; claims: Record<string, string> },
    force: boolean,
    before?: () => Promise<void>,
  ) => {
    if (seen.answered === 'superseded') return;
    if (seen.answered === state && !force) return;
    if (await closeIfSuperseded(deps, g)) {
      seen.answered = 'superseded';
      return;
    }
    // A reconciler pass settles approved requests for hours: once GitHub no longer lists the
    // environment as waiting, a reload or a late denial has nothing to answer. Read each time (a
    // list read once may be stale); when it cannot be read, answer as before and let the post tell.
    const waiting = await deps.gateGithub
      .pendingEnvironments(g.installationId, g.owner, g.repo, g.run.runId)
      .catch((err: unknown) => {
        if (err instanceof JitkeyError && err.code === 'rate_limited') throw err;
        return undefined;
      });
    if (waiting && !waiting.some((e) => equalsAscii(e, g.environment, true))) return;
    await before?.();
    if (await post(g, { environment_name: g.environment, state, comment }, row)) seen.answered = state;
  };

  const settle = async (g: GateGroup, requests: ApprovalRequestRecord[], force: boolean) => {
    const opened = requests[0];
    if (!opened) return;
    const now = deps.now();
    const policy = deps.policy();
    const key = groupKey(g);
    const seen = reports.get(key) ?? { sent: 0, last: '' };
    reports.set(key, seen);
    if (reports.size > 10_000) reports.delete(reports.keys().next().value!);
    // Under the policy in force: a reload since the requests opened may have taken a role's say away.
    const gating = requests.filter((r) => stillGates(policy, deps.evaluate, r));
    if (gating.length === 0) {
      const why = `since a policy reload, none of ${[...new Set(requests.map((r) => r.role))].join(', ')} gates it`;
      const comment = noRoleComment(opened.claims.repository ?? '', g.environment, why);
      const row = { requestId: opened.id, role: opened.role, claims: identifyingClaims(opened.claims) };
      await answer(g, seen, 'rejected', comment, row, force);
      return;
    }
    const lines: GateRequestLine[] = [];
    for (const r of perRole(gating)) {
      lines.push({
        request: { ...r, status: await gateStatus(deps, r, now) },
        ...approvalConfig(policy, r, now),
      });
    }
    const first = lines[0]!.request;
    const rowBase = { requestId: first.id, role: first.role, claims: identifyingClaims(opened.claims) };
    for (const r of requests)
      if (r.status === 'pending' && effectiveStatus(r, now) === 'expired') {
        await store
          .updateApprovalRequest(
            r.id,
            r.version,
            { ...r, status: 'expired' },
            {
              at: now,
              requestId: r.id,
              role: r.role,
              event: 'expire',
              outcome: 'denied',
              reason: 'expired at the deployment gate without enough approvals',
              claims: identifyingClaims(r.claims),
            },
          )
          .catch(() => false);
      }
    const closed = lines.some((l) => l.request.status === 'denied' || l.request.status === 'expired');
    const approved = lines.every((l) => l.request.status === 'approved' || l.request.status === 'redeemed');
    if (closed) {
      await answer(g, seen, 'rejected', rejectedComment(lines, deps.publicUrl), rowBase, force);
      return;
    }
    if (approved) {
      const comment = approvedComment(lines, deps.publicUrl);
      await answer(g, seen, 'approved', comment, rowBase, force, async () => {
        for (const r of gating) if (effectiveStatus(r, now) === 'approved') await lengthen(r).catch(() => {});
      });
      return;
    }
    const comment = statusComment(lines, deps.publicUrl);
    if (comment === seen.last || seen.sent >= MAX_STATUS_REPORTS) return;
    seen.sent++;
    seen.last = comment;
    await post(g, { environment_name: g.environment, comment }, rowBase);
  };

  return {
    requestsOf,
    async handle(d, requestId, options = {}) {
      const run = await deps.gateGithub.getRun(d.installationId, d.owner, d.repo, d.runId);
      try {
        checkDeliveryAgainstRun(d, run);
      } catch (err) {
        // Signed with the secret, yet not GitHub's account of the run: someone holds the secret.
        await store.record({
          at: deps.now(),
          requestId,
          event: 'gate',
          outcome: 'error',
          errorCode: 'invalid_request',
          reason: (err as Error).message,
          claims: {
            repository: d.repository,
            repository_id: d.repositoryId,
            run_id: d.runId,
            environment: d.environment,
          },
        });
        throw err;
      }
      const claims = gateClaims(d, run);
      const g: GateGroup = {
        installationId: d.installationId,
        owner: d.owner,
        repo: d.repo,
        run: { repositoryId: d.repositoryId, runId: run.id, runAttempt: run.attempt },
        environment: d.environment,
      };
      await serial(groupKey(g), async () => {
        const existing = await requestsOf(g.run, g.environment);
        const { roles, why } = gatedRoles(deps.policy(), deps.evaluate, claims);
        if (roles.length === 0 && existing.length === 0) {
          await post(
            g,
            {
              environment_name: d.environment,
              state: 'rejected',
              comment: noRoleComment(d.repository, d.environment, why),
            },
            { requestId, claims: identifyingClaims(claims) },
          );
          return;
        }
        for (const role of roles) {
          if (!existing.some((r) => r.role === role.name))
            existing.push(await openGateRequest(deps, role, claims, g));
        }
        await settle(g, existing, options.answerAgain ?? false);
      });
    },
    async settleRequest(id, options = {}) {
      const r = await store.getApprovalRequest(id);
      const g = r && isGateRequest(r) ? groupOf(r) : undefined;
      if (!g) return;
      await serial(groupKey(g), async () =>
        settle(g, await requestsOf(g.run, g.environment), options.force ?? false),
      );
    },
  };
}

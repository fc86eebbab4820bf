/**
 * What the gate answers when the policy changes under an open deployment, and when two processes
 * opened two requests for one role (the per-deployment queue holds within one process only). The
 * store is the real one (SQLite in memory); GitHub's run and review calls are stand-ins that
 * record what the gate would tell GitHub.
 */
import { describe, expect, it } from 'vitest';
import type { ApproverDirectory } from '../../exchanger/approvals/approvers.js';
import { createApprovals } from '../../exchanger/approvals/service.js';
import { gatingNow } from '../../exchanger/gate/claims.js';
import { parseGateDelivery } from '../../exchanger/gate/delivery.js';
import { redeemAtGate } from '../../exchanger/gate/redeem.js';
import { createGateCore } from '../../exchanger/gate/service.js';
import type { GateDeps } from '../../exchanger/gate/types.js';
import type { GateGithub, GateReview } from '../../exchanger/github/deployment-gate.js';
import { silentLogger } from '../../exchanger/log.js';
import { evaluate } from '../../exchanger/policy/evaluate/evaluate.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import type { Policy } from '../../exchanger/policy/model/types.js';
import { createMetrics } from '../../exchanger/server/metrics.js';
import { openStore } from '../../exchanger/store/open.js';

const role = (name: string, allow: string, gate = true) => `  ${name}:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/${name}" }
    approval: { approvers: [alice, bob], required: 1, gate: ${gate} }
    allow:
      - ${allow}
`;
const policyOf = (roles: string) =>
  loadPolicy(
    `version: 1
issuers:
  - { url: https://token.actions.githubusercontent.com, audience: jitkey }
roles:
${roles}`,
    'policy.yaml',
  );
const PROD = '{ repository_id: "123456", repository_owner: acme, environment: production }';
const RELEASE = policyOf(role('release', PROD));

const alice = { login: 'alice', id: '1001' };
const bob = { login: 'bob', id: '1002' };
const RUN = { repositoryId: '123456', runId: '42', runAttempt: '1' };
const delivery = parseGateDelivery({
  action: 'requested',
  environment: 'production',
  event: 'push',
  sha: 'a'.repeat(40),
  ref: 'refs/heads/main',
  deployment_callback_url: 'https://api.github.com/repos/acme/web/actions/runs/42/deployment_protection_rule',
  repository: { id: 123456, full_name: 'acme/web' },
  installation: { id: 7 },
});

async function harness(first: Policy) {
  const store = await openStore('sqlite::memory:', { purgeIntervalMs: 0 });
  const reviews: GateReview[] = [];
  let policy = first;
  let runDelayMs = 0;
  const gateGithub = {
    async getRun() {
      if (runDelayMs) await new Promise((r) => setTimeout(r, runDelayMs));
      return {
        id: '42',
        attempt: '1',
        repositoryId: '123456',
        event: 'push',
        headSha: 'a'.repeat(40),
        headBranch: 'main',
        path: '.github/workflows/deploy.yml',
        actor: { login: 'octocat', id: '1' },
      };
    },
    async review(_i: string, _o: string, _r: string, _run: string, review: GateReview) {
      reviews.push(review);
    },
    pausedUntil: () => 0,
  } as unknown as GateGithub;
  const github: ApproverDirectory = {
    getUser: async () => {
      throw new Error('not asked here');
    },
    isTeamMember: async () => false,
    getRunAttempt: async () => ({ actorId: '1', triggeringActorId: '1' }),
  };
  const deps = {
    policy: () => policy,
    evaluate,
    store,
    providers: {},
    guards: [],
    metrics: createMetrics(),
    log: silentLogger,
    now: () => new Date(),
    github,
    gateGithub,
    retryDelaysMs: [],
  } as unknown as GateDeps;
  return {
    deps,
    store,
    core: createGateCore(deps),
    approvals: createApprovals(deps),
    answers: () => reviews.filter((r) => r.state).map((r) => `${r.state}: ${r.comment}`),
    reload: (next: Policy) => {
      policy = next;
    },
    slowRun: (ms: number) => {
      runDelayMs = ms;
    },
  };
}

describe('the gate answers by the policy in force when it settles', () => {
  it('a gated role removed since its request opened approves nothing: the deployment is rejected', async () => {
    const h = await harness(RELEASE);
    await h.core.handle(delivery, 'req_delivery');
    const [request] = await h.core.requestsOf(RUN, 'production');
    // Production deploys are frozen: the platform team takes the role out.
    h.reload(policyOf(role('other', '{ repository_id: "999" }')));
    await h.approvals.decideAs(request!.id, alice, { kind: 'approve' });
    await h.core.settleRequest(request!.id);
    expect(h.answers()).toHaveLength(1);
    expect(h.answers()[0]).toMatch(
      /^rejected: \*\*jitkey: rejected\.\*\* No role with `approval\.gate: true`/,
    );
    await h.store.close();
  });

  it('a role whose rules no longer grant the deployment, or whose gate is off, approves nothing', async () => {
    for (const next of [
      policyOf(role('release', PROD.replace('production', 'staging'))),
      policyOf(role('release', PROD, false)),
    ]) {
      const h = await harness(RELEASE);
      await h.core.handle(delivery, 'req_delivery');
      const [request] = await h.core.requestsOf(RUN, 'production');
      h.reload(next);
      await h.approvals.decideAs(request!.id, alice, { kind: 'approve' }).catch(() => {});
      await h.core.settleRequest(request!.id);
      expect(h.answers().map((a) => a.split(':')[0])).toEqual(['rejected']);
      await h.store.close();
    }
  });

  it('a gated role added since waits for its own approval (its request opens when the gate settles)', async () => {
    const h = await harness(RELEASE);
    await h.core.handle(delivery, 'req_delivery');
    const [request] = await h.core.requestsOf(RUN, 'production');
    h.reload(policyOf(role('release', PROD) + role('db-migrate', PROD)));
    await h.approvals.decideAs(request!.id, alice, { kind: 'approve' });
    await h.core.settleRequest(request!.id);
    expect(h.answers()).toEqual([]);
    const open = await h.core.requestsOf(RUN, 'production');
    expect(open.map((r) => [r.role, r.status])).toEqual([
      ['release', 'approved'],
      ['db-migrate', 'pending'],
    ]);
    await h.approvals.decideAs(open[1]!.id, bob, { kind: 'approve' });
    await h.core.settleRequest(open[1]!.id);
    expect(h.answers().map((a) => a.split(':')[0])).toEqual(['approved']);
    await h.store.close();
  });
});

describe('two requests for one role (two processes opened one each)', () => {
  it('a denial of one is not undone by an approval of the other, at the gate or in the job', async () => {
    const h = await harness(RELEASE);
    const other = createGateCore(h.deps);
    // Both read the run before either opens its request: the delivery on one process, the
    // reconciler on another.
    h.slowRun(50);
    await Promise.all([h.core.handle(delivery, 'req_delivery'), other.handle(delivery, 'reconcile_42')]);
    h.slowRun(0);
    const requests = await h.core.requestsOf(RUN, 'production');
    expect(requests.map((r) => r.role)).toEqual(['release', 'release']);
    await h.approvals.decideAs(requests[0]!.id, bob, { kind: 'deny', reason: 'freeze' });
    await h.core.settleRequest(requests[0]!.id);
    await h.approvals.decideAs(requests[1]!.id, alice, { kind: 'approve' });
    await other.settleRequest(requests[1]!.id);
    expect(h.answers().map((a) => a.split(':')[0])).toEqual(['rejected', 'rejected']);
    const claims = {
      repository_id: '123456',
      run_id: '42',
      run_attempt: '1',
      environment: 'production',
      sha: 'a'.repeat(40),
      workflow_ref: 'acme/web/.github/workflows/deploy.yml@refs/heads/main',
    };
    const redeemed = await redeemAtGate(h.deps, h.core, {
      requestId: 'req_job',
      role: h.deps.policy().roles.get('release')!,
      claims,
      durationSeconds: 900,
      appGithub: true,
    });
    expect(redeemed).toBeUndefined();
    await h.store.close();
  });
});

describe('gatingNow', () => {
  it('judges requests opened before they kept every gate claim by their roles alone', () => {
    // Identifying claims only (no sub, no repository_owner): the rules cannot be judged again.
    const claims = { repository_id: '123456', environment: 'production', run_id: '42' };
    const gating = (p: Policy) =>
      gatingNow(p, evaluate, [{ role: 'release', claims }]).roles.map((r) => r.name);
    expect(gating(RELEASE)).toEqual(['release']);
    expect(gating(policyOf(role('release', PROD, false)))).toEqual([]);
    expect(gating(policyOf(role('other', PROD)))).toEqual([]);
  });
});

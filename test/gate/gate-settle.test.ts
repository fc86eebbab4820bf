/**
 * What the gate answers when the policy changes under an open deployment, and when two processes
 * opened two requests for one role (the per-deployment queue holds within one process only). The
 * store is the real one (SQLite in memory); GitHub's run and review calls are stand-ins that
 * record what the gate would tell GitHub.
 */
import { describe, expect, it } from 'vitest';
import type { ApproverDirectory } from '../../exchanger/approvals/approvers.js';
import { createApprovals } from '../../exchanger/approvals/service.js';
import { stillGates } from '../../exchanger/gate/claims.js';
import { parseGateDelivery } from '../../exchanger/gate/delivery.js';
import { openGateRequest } from '../../exchanger/gate/open-request.js';
import { reconcileOnce } from '../../exchanger/gate/reconciler.js';
import { createGateCore, groupOf } from '../../exchanger/gate/service.js';
import type { GateDeps } from '../../exchanger/gate/types.js';
import type { GateGithub, GateReview } from '../../exchanger/github/deployment-gate.js';
import { silentLogger } from '../../exchanger/log.js';
import { evaluate } from '../../exchanger/policy/evaluate/evaluate.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import type { Policy } from '../../exchanger/policy/model/types.js';
import { createMetrics } from '../../exchanger/server/metrics.js';
import { openStore } from '../../exchanger/store/open.js';
import { gateDelivery } from '../support/gate-delivery.js';

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
const delivery = parseGateDelivery(gateDelivery({ sha: 'a'.repeat(40) }));

async function harness(first: Policy) {
  const store = await openStore('sqlite::memory:', { purgeIntervalMs: 0 });
  const reviews: GateReview[] = [];
  let policy = first;
  let headBranch = 'main';
  // As GitHub: the deployment waits until it is answered approved or rejected.
  let waiting = true;
  let down = false;
  let listDown = false;
  let listStale = 0;
  const gateGithub = {
    async getRun() {
      return {
        id: '42',
        attempt: '1',
        repositoryId: '123456',
        event: 'push',
        headSha: 'a'.repeat(40),
        headBranch,
        path: '.github/workflows/deploy.yml',
        actor: { login: 'octocat', id: '1' },
      };
    },
    async review(_i: string, _o: string, _r: string, _run: string, review: GateReview) {
      if (down) throw new Error('GitHub answered 502');
      // Every answer the gate tries is kept, those GitHub refuses too.
      reviews.push(review);
      if (review.state && !waiting) throw new Error('GitHub: no pending deployment protection rule');
      if (review.state) waiting = false;
    },
    pendingEnvironments: async () => {
      if (listDown) throw new Error('GitHub answered 502');
      if (listStale > 0) {
        listStale--;
        return [];
      }
      return waiting ? ['production'] : [];
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
  const core = createGateCore(deps);
  const approvals = createApprovals(deps);
  const answers = () => reviews.filter((r) => r.state).map((r) => `${r.state}: ${r.comment}`);
  return {
    deps,
    store,
    core,
    approvals,
    answers,
    /** The deployment's delivery handled: its one request. */
    opened: async () => {
      await core.handle(delivery, 'req_delivery');
      const [request] = await core.requestsOf(RUN, 'production');
      return request;
    },
    /** The final answers' states, in order: `approved`, `rejected`. */
    states: () => answers().map((a) => a.split(':')[0]),
    /** A person's decision, then the gate settling (by `by`, another process's core, if given). */
    decide: async (
      id: string,
      who: { login: string; id: string },
      decision: { kind: 'approve' } | { kind: 'deny'; reason: string },
      by = core,
    ) => {
      await approvals.decideAs(id, who, decision);
      await by.settleRequest(id);
    },
    reload: (next: Policy) => {
      policy = next;
    },
    githubDown: (d: boolean) => {
      down = d;
    },
    pendingListDown: (d: boolean) => {
      listDown = d;
    },
    pendingListStale: (times: number) => {
      listStale = times;
    },
    runOn: (branch: string) => {
      headBranch = branch;
    },
  };
}

describe('the gate answers by the policy in force when it settles', () => {
  it('a gated role removed since its request opened approves nothing: the deployment is rejected', async () => {
    const h = await harness(RELEASE);
    const request = await h.opened();
    // Production deploys are frozen: the platform team takes the role out.
    h.reload(policyOf(role('other', '{ repository_id: "999" }')));
    await h.decide(request!.id, alice, { kind: 'approve' });
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
      expect(h.states()).toEqual(['rejected']);
      await h.store.close();
    }
  });

  it('a gated role added since takes no part: a reload takes a say away, never adds one', async () => {
    const h = await harness(RELEASE);
    const request = await h.opened();
    h.reload(policyOf(role('release', PROD) + role('db-migrate', PROD)));
    await h.decide(request!.id, alice, { kind: 'approve' });
    expect(h.states()).toEqual(['approved']);
    expect((await h.core.requestsOf(RUN, 'production')).map((r) => r.role)).toEqual(['release']);
    await h.store.close();
  });

  it('each request is judged on its own claims: the reconciler guessed a branch, the delivery named a tag', async () => {
    const tagged = policyOf(
      role('release', PROD) +
        role('tag-release', '{ repository_id: "123456", environment: production, ref: "refs/tags/*" }'),
    );
    const h = await harness(tagged);
    h.runOn('v1');
    // The reconciler finds the waiting run first: GitHub's run names 'v1', read as a branch.
    const { ref: _, ...guessed } = { ...delivery, ref: undefined };
    await h.core.handle(guessed, 'reconcile_42');
    expect((await h.core.requestsOf(RUN, 'production')).map((r) => r.role)).toEqual(['release']);
    // Then the delivery, which names the tag: the tag-only role is asked for too.
    await h.core.handle({ ...delivery, ref: 'refs/tags/v1' }, 'req_delivery');
    const [first, second] = await h.core.requestsOf(RUN, 'production');
    expect(second?.role).toBe('tag-release');
    await h.decide(first!.id, alice, { kind: 'approve' });
    expect(h.answers().filter((a) => /^(approved|rejected):/.test(a))).toEqual([]);
    await h.decide(second!.id, bob, { kind: 'approve' });
    expect(h.states()).toEqual(['approved']);
    await h.store.close();
  });
});

it('a stale list (the environment left out once) delays the answer, and the next settle gives it', async () => {
  const h = await harness(RELEASE);
  const request = await h.opened();
  h.pendingListStale(1);
  await h.decide(request!.id, alice, { kind: 'approve' });
  expect(h.answers()).toEqual([]);
  await h.core.settleRequest(request!.id);
  expect(h.states()).toEqual(['approved']);
  await h.store.close();
});

it('answers when GitHub will not list what waits: the answer itself tells', async () => {
  const h = await harness(RELEASE);
  const request = await h.opened();
  h.pendingListDown(true);
  await h.decide(request!.id, alice, { kind: 'approve' });
  expect(h.states()).toEqual(['approved']);
  await h.store.close();
});

describe('two requests for one role (two processes opened one each)', () => {
  async function duplicated() {
    const h = await harness(RELEASE);
    const other = createGateCore(h.deps);
    await h.core.handle(delivery, 'req_delivery');
    // The second, as another process opens it when it reads the deployment at the same moment
    // (the delivery on one, the reconciler on another): the per-deployment queue is per process.
    const [first] = await h.core.requestsOf(RUN, 'production');
    await openGateRequest(h.deps, h.deps.policy().roles.get('release')!, first!.claims, groupOf(first!)!);
    const requests = await h.core.requestsOf(RUN, 'production');
    expect(requests.map((r) => r.role)).toEqual(['release', 'release']);
    return { h, other, requests };
  }

  it('while it waits, a denial of one is not undone by an approval of the other', async () => {
    const { h, other, requests } = await duplicated();
    await h.decide(requests[0]!.id, bob, { kind: 'deny', reason: 'freeze' });
    await h.decide(requests[1]!.id, alice, { kind: 'approve' }, other);
    expect(h.states()).toEqual(['rejected']);
    await h.store.close();
  });

  it('a denial whose answer GitHub did not take still outranks the other approval', async () => {
    const { h, other, requests } = await duplicated();
    h.githubDown(true);
    await h.decide(requests[0]!.id, bob, { kind: 'deny', reason: 'freeze' });
    h.githubDown(false);
    await h.decide(requests[1]!.id, alice, { kind: 'approve' }, other);
    expect(h.states()).toEqual(['rejected']);
    await h.store.close();
  });

  it('once GitHub has its answer, a late denial of the other answers nothing', async () => {
    const { h, other, requests } = await duplicated();
    await h.decide(requests[0]!.id, alice, { kind: 'approve' });
    await h.decide(requests[1]!.id, bob, { kind: 'deny', reason: 'too late' }, other);
    expect(h.states()).toEqual(['approved']);
    await h.store.close();
  });
});

describe('stillGates', () => {
  it('judges a request opened before requests kept every gate claim by its role alone', () => {
    // Identifying claims only (no sub, no repository_owner): the rules cannot be judged again.
    const request = { role: 'release', claims: { repository_id: '123456', environment: 'production' } };
    expect(stillGates(RELEASE, evaluate, request)).toBe(true);
    expect(stillGates(policyOf(role('release', PROD, false)), evaluate, request)).toBe(false);
    expect(stillGates(policyOf(role('other', PROD)), evaluate, request)).toBe(false);
  });
});

it('the reconciler settles every pending gate request, past one GitHub would not describe', async () => {
  const h = await harness(RELEASE);
  await h.core.handle(delivery, 'req_delivery');
  // Another deployment's request (run 43), as its own delivery would open it.
  const [first] = await h.core.requestsOf(RUN, 'production');
  const g = groupOf(first!)!;
  await openGateRequest(
    h.deps,
    h.deps.policy().roles.get('release')!,
    { ...first!.claims, run_id: '43' },
    {
      ...g,
      run: { ...g.run, runId: '43' },
    },
  );
  const ids = (await h.store.listApprovalRequests({ statuses: ['pending'], limit: 10 })).map((r) => r.id);
  expect(ids).toHaveLength(2);
  const settled: string[] = [];
  const core = {
    ...h.core,
    settleRequest: async (id: string) => {
      settled.push(id);
      if (id === ids[0]) throw new Error('GitHub answered 502');
    },
  };
  await reconcileOnce({
    core,
    github: { pausedUntil: () => Date.now() + 60_000 } as unknown as GateGithub,
    store: h.store,
    log: silentLogger,
    now: () => new Date(),
    anyGated: () => true,
  });
  expect(settled).toEqual(ids);
  await h.store.close();
});

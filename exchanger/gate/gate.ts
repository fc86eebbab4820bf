/**
 * The deployment gate as `jitkey serve` wires it: deliveries worked on in the background (GitHub
 * wants its 2xx within 10 s; the decision can take days), decisions taken through the approvals
 * API or the console looked at again at once, jobs' exchanges redeemed at once, and the reconciler.
 */
import type { Approvals } from '../approvals/service.js';
import type { Grant } from '../exchange/types.js';
import { parseGateDelivery } from './delivery.js';
import { startReconciler } from './reconciler.js';
import { type GateRedemption, redeemAtGate } from './redeem.js';
import { createGateCore } from './service.js';
import type { GateDeps } from './types.js';

export interface Gate {
  /** A signed `deployment_protection_rule` delivery: checked now (`invalid_request`), worked on after. */
  requested(payload: Record<string, unknown>, requestId: string): void;
  /** Credentials at once for a job whose deployment the gate approved; `undefined` otherwise. */
  redeem(request: GateRedemption): Promise<Grant | undefined>;
  /** The approvals, whose decisions also move the gate of a gate request. */
  wrap(approvals: Approvals): Approvals;
  startReconciler(intervalMs?: number): () => void;
  /** Resolves when the background work started so far has finished (tests, shutdown). */
  settled(): Promise<void>;
}

export function createGate(deps: GateDeps): Gate {
  const core = createGateCore(deps);
  const inFlight = new Set<Promise<void>>();
  const track = (p: Promise<void>, what: string, fields: Record<string, unknown>) => {
    const q = p.catch((err: unknown) => deps.log.error(what, { ...fields, error: err as Error }));
    inFlight.add(q);
    void q.finally(() => inFlight.delete(q));
  };
  const decided = (id: string) =>
    track(core.settleRequest(id), 'deployment gate could not look at a decision', { approval_request: id });
  return {
    requested(payload, requestId) {
      const d = parseGateDelivery(payload);
      track(
        core.handle(d, requestId, { answerAgain: true }),
        'deployment gate delivery failed; the reconciler tries again',
        {
          request_id: requestId,
          repository: d.repository,
          run_id: d.runId,
          environment: d.environment,
        },
      );
    },
    redeem: (request) => redeemAtGate(deps, core, request),
    wrap(approvals) {
      return {
        ...approvals,
        async decide(id, token, decision) {
          const view = await approvals.decide(id, token, decision);
          decided(id);
          return view;
        },
        async decideAs(id, who, decision) {
          const view = await approvals.decideAs(id, who, decision);
          decided(id);
          return view;
        },
      };
    },
    startReconciler: (intervalMs) =>
      startReconciler(
        {
          core,
          github: deps.gateGithub,
          store: deps.store,
          log: deps.log,
          now: deps.now,
          anyGated: () => [...deps.policy().roles.values()].some((r) => r.approval?.gate),
        },
        intervalMs,
      ),
    async settled() {
      while (inFlight.size) await Promise.all([...inFlight]);
    },
  };
}

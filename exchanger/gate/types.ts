/**
 * The shapes the gate's modules share (`service.ts` builds the gate, `answer.ts` answers GitHub),
 * here so neither imports the other for them.
 */
import type { ApprovalDeps } from '../approvals/context.js';
import type { GateGithub } from '../github/deployment-gate.js';
import type { RunKey } from '../store/runs-types.js';

export interface GateDeps extends ApprovalDeps {
  gateGithub: GateGithub;
  /** Waits between the attempts of a failed answer (default 1 s, then 5 s: three attempts). */
  retryDelaysMs?: readonly number[];
}

/** One run attempt's deployment to one environment: what GitHub waits on, and answers once. */
export interface GateGroup {
  installationId: string;
  owner: string;
  repo: string;
  run: RunKey;
  environment: string;
}

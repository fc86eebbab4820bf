/**
 * What the main step hands the credentials agent, through the agent's stdin (never its command
 * line, environment or a file): where to renew, with what, and the first lease. Parsed strictly;
 * the agent refuses to start on anything else.
 */
import type { Lease } from '../shared/api.js';

export interface AgentConfig {
  exchangerUrl: string;
  role: string;
  audience: string;
  /** The `duration` input; undefined asks for the role's default each time. */
  durationSeconds?: number;
  retries: number;
  /** The runner's OIDC token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN). */
  tokenRequestUrl: string;
  tokenRequestToken: string;
  /** The random bearer token every request to the agent must carry (already masked). */
  bearer: string;
  /** The lease the main step obtained. */
  lease: Lease;
  /** When to renew, as a fraction of a lease's life (default 2/3). */
  renewAt?: number;
  /**
   * The step's proxy variables (HTTPS_PROXY, NO_PROXY, …): the agent starts with an empty
   * environment, yet reaches the exchanger and the runner the way the main step did.
   */
  proxyEnv?: Record<string, string>;
  /**
   * The main step's parent (the job's Runner.Worker): the agent exits when it is gone, so it does
   * not outlive a job whose post step never ran.
   */
  runnerPid?: number;
}

export const DEFAULT_RENEW_AT = 2 / 3;

export function parseAgentConfig(text: string): AgentConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('jitkey agent: the configuration on stdin is not JSON');
  }
  const c = value as Partial<AgentConfig> | null;
  const str = (v: unknown) => typeof v === 'string' && v !== '';
  if (
    !c ||
    !str(c.exchangerUrl) ||
    !str(c.role) ||
    !str(c.audience) ||
    !str(c.tokenRequestUrl) ||
    !str(c.tokenRequestToken) ||
    !str(c.bearer) ||
    typeof c.retries !== 'number' ||
    !c.lease ||
    !str(c.lease.leaseId)
  ) {
    throw new Error('jitkey agent: the configuration on stdin lacks a required field');
  }
  if (
    c.proxyEnv !== undefined &&
    (typeof c.proxyEnv !== 'object' ||
      c.proxyEnv === null ||
      Object.values(c.proxyEnv).some((v) => typeof v !== 'string'))
  ) {
    throw new Error('jitkey agent: proxyEnv must map variable names to strings');
  }
  if (c.runnerPid !== undefined && !(Number.isInteger(c.runnerPid) && c.runnerPid > 0)) {
    throw new Error('jitkey agent: runnerPid must be a process id');
  }
  if (c.renewAt !== undefined && !(c.renewAt > 0 && c.renewAt < 1)) {
    throw new Error('jitkey agent: renewAt must be between 0 and 1');
  }
  return c as AgentConfig;
}

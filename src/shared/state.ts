/**
 * What the main step leaves for the post step (`GITHUB_STATE` → `STATE_<name>`): enough to revoke
 * the lease and to clear what was exported.
 */
import type { Core } from './core.js';

export interface PostState {
  leaseId: string;
  revokeToken: string;
  exchangerUrl: string;
  expiresAt: string;
  /** Names of the variables the main step exported. */
  exported: string[];
  revoke: boolean;
  /** The kubeconfig file of a Kubernetes lease, deleted by the post step ('' when none). */
  kubeconfig: string;
  /** The credentials agent (`refresh: true`), when one was started. */
  agent?: { origin: string; bearer: string; pid: number };
}

const NAMES = {
  leaseId: 'lease_id',
  revokeToken: 'revoke_token',
  exchangerUrl: 'exchanger_url',
  expiresAt: 'expires_at',
  exported: 'exported_env',
  revoke: 'revoke',
  kubeconfig: 'kubeconfig',
  agentOrigin: 'agent_origin',
  agentToken: 'agent_token',
  agentPid: 'agent_pid',
} as const;

/** The revoke token must already be masked (the lease parser does it). */
export function saveState(core: Pick<Core, 'saveState'>, state: PostState): void {
  core.saveState(NAMES.leaseId, state.leaseId);
  core.saveState(NAMES.revokeToken, state.revokeToken);
  core.saveState(NAMES.exchangerUrl, state.exchangerUrl);
  core.saveState(NAMES.expiresAt, state.expiresAt);
  core.saveState(NAMES.exported, state.exported.join(','));
  core.saveState(NAMES.revoke, String(state.revoke));
  if (state.kubeconfig) core.saveState(NAMES.kubeconfig, state.kubeconfig);
  if (state.agent) {
    core.saveState(NAMES.agentOrigin, state.agent.origin);
    core.saveState(NAMES.agentToken, state.agent.bearer);
    core.saveState(NAMES.agentPid, String(state.agent.pid));
  }
}

export function loadState(core: Pick<Core, 'getState'>): PostState {
  return {
    leaseId: core.getState(NAMES.leaseId),
    revokeToken: core.getState(NAMES.revokeToken),
    exchangerUrl: core.getState(NAMES.exchangerUrl),
    expiresAt: core.getState(NAMES.expiresAt),
    exported: core
      .getState(NAMES.exported)
      .split(',')
      .filter((n) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(n)),
    revoke: core.getState(NAMES.revoke) !== 'false',
    kubeconfig: core.getState(NAMES.kubeconfig),
    ...agentState(core),
  };
}

function agentState(core: Pick<Core, 'getState'>): Pick<PostState, 'agent'> {
  const origin = core.getState(NAMES.agentOrigin);
  const bearer = core.getState(NAMES.agentToken);
  const pid = Number(core.getState(NAMES.agentPid));
  // Only ever a loopback agent: the post step sends its token nowhere else.
  if (!/^http:\/\/127\.0\.0\.1:\d{1,5}$/.test(origin) || !bearer || !Number.isSafeInteger(pid) || pid <= 0) {
    return {};
  }
  return { agent: { origin, bearer, pid } };
}

/**
 * The agent's lease: renewed when `renewAt` (2/3) of its life has passed, each time with a fresh
 * OIDC token from the runner through the ordinary `POST /v1/exchange` (so every renewal is
 * audited, and the exchanger's limits apply: max_duration from the first lease, run_completed).
 *
 * - A refusal (4xx other than 429) stops renewing for good: the exchanger said no, asking again
 *   would not change that. The current lease serves until its end, then requests get the reason.
 * - A failure (network, 5xx, 429, after the client's own retries) is tried again, sooner as the
 *   lease runs out, until it ends.
 * - Once renewing has stopped for good (a refusal: `max_duration` used up, `run_completed`; or
 *   failures until the lease ended), `onEnded` is called at the current lease's end: nothing is
 *   left to serve, and the agent exits rather than outlive its job.
 */

import type { Deps } from '../client/deps.js';
import { type ClientOptions, exchange, revoke } from '../client/exchanger.js';
import { requestIdToken } from '../client/oidc.js';
import type { Lease } from '../shared/api.js';
import { ExchangerError, errorMessage } from '../shared/errors.js';
import { type AgentConfig, DEFAULT_RENEW_AT } from './config.js';

/** The longest delay `setTimeout` takes as given (2^31 - 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface RenewerStatus {
  leaseId: string;
  expiresAt: string;
  renewals: number;
  /** Why renewing stopped, when it did. */
  stopped?: string;
  lastError?: string;
}

export interface Renewer {
  /** The lease while it is valid; otherwise the reason there is none. */
  current(): { lease: Lease } | { reason: string };
  status(): RenewerStatus;
  /** Stops renewing and revokes every lease the agent itself obtained. */
  stop(): Promise<{ revoked: string[]; failed: string[] }>;
}

const MIN_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

export function startRenewer(
  config: AgentConfig,
  deps: Deps,
  timers: Timers,
  onEnded: (reason: string) => void = () => {},
): Renewer {
  const client: ClientOptions = { baseUrl: new URL(config.exchangerUrl), retries: config.retries };
  const fraction = config.renewAt ?? DEFAULT_RENEW_AT;
  const tokenDeps: Deps = {
    ...deps,
    env: {
      ACTIONS_ID_TOKEN_REQUEST_URL: config.tokenRequestUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: config.tokenRequestToken,
    },
  };
  let lease = config.lease;
  let receivedAt = deps.now();
  const obtained: Lease[] = [];
  let renewals = 0;
  let stopped: string | undefined;
  let lastError: string | undefined;
  let timer: unknown;
  let renewing: Promise<void> | undefined;
  let stopping: Promise<{ revoked: string[]; failed: string[] }> | undefined;

  const endOf = (l: Lease) => Date.parse(l.expiresAt);
  /**
   * Node fires a timer past its 32-bit limit at once: a lease ending that far off would renew in a
   * loop. Such a lease is renewed (or ends) at the limit, some 24 days on.
   */
  const later = (fn: () => void, ms: number) => {
    timer = timers.setTimeout(fn, Math.max(0, Math.min(ms, MAX_TIMER_MS)));
  };
  const schedule = (ms: number) =>
    later(() => {
      renewing = renew().finally(() => {
        renewing = undefined;
      });
    }, ms);
  /** Renewing is over for good: the current lease serves until its end, then the agent is done. */
  const stopFor = (reason: string) => {
    stopped = reason;
    later(() => onEnded(reason), endOf(lease) - deps.now());
  };
  const scheduleRenewal = () => {
    const life = endOf(lease) - receivedAt;
    schedule(receivedAt + life * fraction - deps.now());
  };

  async function renew(): Promise<void> {
    if (stopped) return;
    try {
      const outcome = await exchange(
        tokenDeps,
        client,
        () => requestIdToken(tokenDeps, config.audience, config.retries),
        {
          role: config.role,
          durationSeconds: config.durationSeconds,
        },
      );
      if (stopped) {
        // Stopped while the exchange was in flight: this lease is still ours to revoke.
        if (outcome.kind === 'issued') obtained.push(outcome.lease);
        return;
      }
      if (outcome.kind === 'pending') {
        stopFor(`role '${config.role}' needs a human approval for each use, so the agent cannot renew it`);
        return;
      }
      lease = outcome.lease;
      receivedAt = deps.now();
      obtained.push(lease);
      renewals++;
      lastError = undefined;
      scheduleRenewal();
    } catch (e) {
      lastError = errorMessage(e);
      if (e instanceof ExchangerError && e.status >= 400 && e.status < 500 && e.status !== 429) {
        stopFor(`the exchanger refused the renewal: ${e.apiCode}: ${e.apiMessage}`);
        return;
      }
      const left = endOf(lease) - deps.now();
      if (left <= 0) {
        stopFor(`renewal failed until the lease ended: ${lastError}`);
        return;
      }
      schedule(Math.min(MAX_RETRY_MS, Math.max(MIN_RETRY_MS, left / 4)));
    }
  }

  scheduleRenewal();

  return {
    current() {
      if (deps.now() < endOf(lease)) return { lease };
      return {
        reason: `the jitkey agent's lease for role '${config.role}' ended at ${lease.expiresAt}${stopped ? ` and ${stopped}` : ' before it could be renewed'}`,
      };
    },
    status: () => ({
      leaseId: lease.leaseId,
      expiresAt: lease.expiresAt,
      renewals,
      ...(stopped ? { stopped } : {}),
      ...(lastError ? { lastError } : {}),
    }),
    stop() {
      // Once: a shutdown request and a SIGTERM (or the runner gone) may both ask.
      stopping ??= (async () => {
        stopped ??= 'the agent was stopped';
        timers.clearTimeout(timer);
        await renewing;
        const revoked: string[] = [];
        const failed: string[] = [];
        await Promise.all(
          obtained.map(async (l) => {
            try {
              await revoke(deps, client, l);
              revoked.push(l.leaseId);
            } catch {
              failed.push(l.leaseId);
            }
          }),
        );
        return { revoked, failed };
      })();
      return stopping;
    },
  };
}

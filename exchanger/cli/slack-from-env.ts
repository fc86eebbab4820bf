/**
 * Slack interactivity from the environment: `POST /v1/slack/interactions` is served when
 * `JITKEY_SLACK_SIGNING_SECRET` is set (the Slack app's signing secret). Without it the route is
 * not there, and a role with `approval.chat_decisions` is warned about: its buttons would fail.
 * `JITKEY_SLACK_ALLOW_LOOPBACK_RESPONSE_URL=1` is for tests only (a Slack stand-in on loopback).
 */
import type { Approvals } from '../approvals/service.js';
import { slackInteractions } from '../approvals/slack-interactions.js';
import type { Logger } from '../log.js';
import type { Policy } from '../policy/model/types.js';
import type { ExtraRoutes } from '../server/approval-routes.js';
import { slackRoute } from '../server/slack-route.js';
import type { Store } from '../store/types.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface SlackFromEnvDeps {
  approvals: Pick<Approvals, 'decideAs'>;
  store: Pick<Store, 'consumeJti' | 'getApprovalRequest' | 'record'>;
  policy: () => Policy;
  log: Logger;
  now: () => Date;
  publicUrl?: string | undefined;
}

export function slackFromEnv(env: Env, deps: SlackFromEnvDeps): ExtraRoutes | undefined {
  const secret = env.JITKEY_SLACK_SIGNING_SECRET?.trim();
  if (!secret) return undefined;
  const loopback = env.JITKEY_SLACK_ALLOW_LOOPBACK_RESPONSE_URL?.trim();
  if (loopback && loopback !== '1' && loopback !== '0') {
    throw new Error(
      `JITKEY_SLACK_ALLOW_LOOPBACK_RESPONSE_URL must be 1 or 0 (tests only), got '${loopback}'`,
    );
  }
  const interactions = slackInteractions({ ...deps, allowLoopbackResponseUrl: loopback === '1' });
  return slackRoute({ secret, store: deps.store, interactions, log: deps.log, now: deps.now });
}

/** At start and on reload: `chat_decisions` roles whose buttons nothing here would answer. */
export function warnSlackUnconfigured(policy: Policy, served: boolean, log: Logger): void {
  if (served) return;
  for (const role of policy.roles.values()) {
    if (role.approval?.chatDecisions) {
      log.warn(
        'a role takes decisions from Slack and JITKEY_SLACK_SIGNING_SECRET is not set: its Approve and Deny buttons are refused',
        { role: role.name },
      );
    }
  }
}

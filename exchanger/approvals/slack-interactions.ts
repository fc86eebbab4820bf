/**
 * A click on the Approve or Deny button of a Slack notify message (`slack.ts`), once its signature
 * has been checked (`server/slack-route.ts`). The Slack user becomes a GitHub account only through
 * the policy's `slack_users`; the decision is the console's (`decideAs`: approver lists, self-
 * approval, re-runs, distinct approvers, the policy in force) and only for roles with
 * `approval.chat_decisions: true`. Every refusal of ours is audited and shown to the clicker alone
 * (an ephemeral message); the outcome replaces the message, through the interaction's
 * `response_url` (Slack's `hooks.slack.com` only), in the background so Slack gets its answer
 * within its 3 s.
 */
import { ALL_JOB_CLAIMS } from '../claims.js';
import { JitkeyError } from '../errors.js';
import type { Logger } from '../log.js';
import { fetchTransport, httpCall } from '../net/http-client.js';
import { isLoopbackHost, urlRefusal } from '../net/url-rule.js';
import type { Policy } from '../policy/model/types.js';
import type { ApprovalRequestRecord } from '../store/approvals-types.js';
import type { AuditClient, AuditEntry } from '../store/audit-types.js';
import type { Store } from '../store/types.js';
import { decisionRefusalFold } from './context.js';
import type { Approvals } from './service.js';
import { APPROVE_ACTION, DENY_ACTION, slackMessage } from './slack.js';

const SLACK_HOST = 'hooks.slack.com';
const RESPONSE_TIMEOUT_MS = 5000;
const REQUEST_ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface SlackClick {
  kind: 'approve' | 'deny';
  requestId: string;
  /** Slack's user id of whoever clicked. */
  slackUser: string;
  responseUrl: string;
}

export interface SlackInteractionDeps {
  approvals: Pick<Approvals, 'decideAs'>;
  store: Pick<Store, 'getApprovalRequest' | 'record'>;
  policy: () => Policy;
  log: Logger;
  now: () => Date;
  fetch?: typeof globalThis.fetch;
  /** `JITKEY_PUBLIC_URL`, for the Review button of the updated message. */
  publicUrl?: string | undefined;
  /** Tests only: take an `http://` loopback `response_url` (a Slack stand-in). */
  allowLoopbackResponseUrl?: boolean;
}

/**
 * Why a `response_url` is not Slack's: it must be https on `hooks.slack.com` (or, with the test
 * switch, http on loopback), so a forged payload could not make us post anywhere else.
 */
export function responseUrlRefusal(raw: string, allowLoopback = false): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'the response_url is not a URL';
  }
  if (url.protocol === 'https:' && url.hostname === SLACK_HOST && !url.username && !url.password) return;
  if (allowLoopback && isLoopbackHost(url.hostname) && !urlRefusal(raw)) return;
  return `the response_url is not on https://${SLACK_HOST}`;
}

/** The decision a `block_actions` payload carries; undefined for any other interaction (a link button). */
export function parseClick(payload: unknown): SlackClick | undefined {
  const p = payload as {
    type?: unknown;
    user?: { id?: unknown };
    actions?: Array<{ action_id?: unknown; value?: unknown }>;
    response_url?: unknown;
  };
  if (typeof p !== 'object' || p === null || p.type !== 'block_actions' || !Array.isArray(p.actions)) return;
  const action = p.actions.find((a) => a?.action_id === APPROVE_ACTION || a?.action_id === DENY_ACTION);
  if (!action) return;
  const { value } = action;
  const user = p.user?.id;
  if (typeof value !== 'string' || !REQUEST_ID.test(value)) {
    throw new JitkeyError('invalid_request', "the button's value is not an approval request id");
  }
  if (typeof user !== 'string' || user === '')
    throw new JitkeyError('invalid_request', 'the payload names no user');
  if (typeof p.response_url !== 'string')
    throw new JitkeyError('invalid_request', 'the payload has no response_url');
  return {
    kind: action.action_id === APPROVE_ACTION ? 'approve' : 'deny',
    requestId: value,
    slackUser: user,
    responseUrl: p.response_url,
  };
}

export interface SlackInteractions {
  /** Decides; the message update and any ephemeral answer go out in the background. */
  click(click: SlackClick, client: AuditClient): Promise<{ outcome: string }>;
  /** Resolves when the `response_url` posts sent so far are done (tests, shutdown). */
  settled(): Promise<void>;
}

export function slackInteractions(deps: SlackInteractionDeps): SlackInteractions {
  const inFlight = new Set<Promise<void>>();
  const respond = (click: SlackClick, body: Record<string, unknown>) => {
    const p = post(deps, click, body);
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const tell = (click: SlackClick, text: string) =>
    respond(click, { response_type: 'ephemeral', replace_original: false, text });
  // Anyone in the channel can click: as the console's, refusals are audited once per person,
  // request and kind in a window, so clicks cannot push a request's history off its page.
  const audited = decisionRefusalFold(deps.now);

  const refuse = async (
    click: SlackClick,
    request: ApprovalRequestRecord,
    actor: { login: string; id?: string },
    why: string,
    client: AuditClient,
  ) => {
    const row: AuditEntry = {
      at: deps.now(),
      requestId: request.id,
      role: request.role,
      claims: Object.fromEntries(
        ALL_JOB_CLAIMS.flatMap((name) => {
          const value = request.claims[name];
          return value === undefined ? [] : [[name, value]];
        }),
      ),
      event: click.kind,
      outcome: 'denied',
      errorCode: 'access_denied',
      reason: `${click.kind} in Slack refused: ${why}`,
      actor: actor.login,
      ...(actor.id ? { actorId: actor.id } : {}),
      ...client,
    };
    if (audited(request.id, actor.id ?? actor.login, click.kind)) await deps.store.record(row);
    tell(click, `Not recorded: ${why}.`);
    return { outcome: 'refused' };
  };

  return {
    async click(click, client) {
      const refusal = responseUrlRefusal(click.responseUrl, deps.allowLoopbackResponseUrl);
      if (refusal) throw new JitkeyError('invalid_request', refusal);
      const request = await deps.store.getApprovalRequest(click.requestId);
      if (!request) {
        tell(click, `No approval request ${click.requestId} is known (it may have been purged).`);
        return { outcome: 'not_found' };
      }
      const policy = deps.policy();
      const who = policy.slackUsers?.get(click.slackUser);
      if (!who) {
        return refuse(
          click,
          request,
          { login: `slack:${click.slackUser}` },
          `Slack user ${click.slackUser} is not in the policy's slack_users, so jitkey cannot tell which GitHub account decides`,
          client,
        );
      }
      if (policy.roles.get(request.role)?.approval?.chatDecisions !== true) {
        return refuse(
          click,
          request,
          who,
          `role ${request.role} takes decisions in the console or the CLI only (its approval.chat_decisions is not true)`,
          client,
        );
      }
      const reason = click.kind === 'approve' ? 'via Slack' : `denied in Slack by ${who.login}`;
      let status: string;
      try {
        status = (await deps.approvals.decideAs(request.id, who, { kind: click.kind, reason, client }))
          .status;
      } catch (err) {
        if (!(err instanceof JitkeyError) || err.status >= 500) throw err;
        tell(click, `Not recorded: ${err.message}`);
        return { outcome: err.code };
      }
      const reread = await deps.store.getApprovalRequest(request.id);
      const after = reread ?? request;
      // Decided before this click (an approval already complete, a denial): the message keeps
      // what it says, and only the clicker is told.
      const counted =
        click.kind === 'approve'
          ? after.approvals.some((v) => v.id === who.id)
          : after.status === 'denied' && after.decidedBy === who.login;
      // Gone since (purged): what decideAs recorded stands, and the message says what it was.
      if (reread && !counted) {
        tell(click, `Not recorded: request ${request.id} is already ${after.status}; nothing changed.`);
        return { outcome: 'unchanged' };
      }
      const done =
        click.kind === 'deny'
          ? `Denied in Slack by ${who.login}: the job is told and stops waiting.`
          : status === 'approved'
            ? `Approved in Slack by ${who.login} (${after.approvals.length} of ${after.required}): the job may proceed.`
            : `${who.login} approved in Slack (${after.approvals.length} of ${after.required}); more approvals are needed.`;
      respond(click, {
        replace_original: true,
        ...slackMessage(after, deps.publicUrl, { buttons: status === 'pending', outcome: done }),
      });
      return { outcome: status };
    },
    async settled() {
      await Promise.all([...inFlight]);
    },
  };
}

/** One POST to Slack's `response_url`; a failure is logged, never thrown. The URL is not logged. */
async function post(
  deps: SlackInteractionDeps,
  click: SlackClick,
  body: Record<string, unknown>,
): Promise<void> {
  try {
    const res = await httpCall(
      {
        name: "the Slack message update (POST to the click's response_url)",
        method: 'POST',
        url: click.responseUrl,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        timeoutMs: RESPONSE_TIMEOUT_MS,
        readBody: false,
      },
      fetchTransport(deps.fetch),
    );
    if (!res.ok) {
      deps.log.warn('Slack refused the message update', { request_id: click.requestId, status: res.status });
    }
  } catch (err) {
    deps.log.warn('the Slack message update failed', { request_id: click.requestId, error: err as Error });
  }
}

/**
 * `POST /v1/slack/interactions`: Slack's interactivity request URL (issue 27, item 3). The body
 * (`application/x-www-form-urlencoded`, a `payload` JSON field) is held to 64 KiB and its
 * signature checked on the raw bytes before anything is parsed (`approvals/slack-signature.ts`);
 * a signature seen before within the 5-minute window is a replay, refused across every worker
 * (the store's `consumeJti`). Slack is answered 200 with an empty body once the decision is made;
 * what the clicker sees goes through the interaction's `response_url` (`slack-interactions.ts`).
 */
import type { SlackInteractions } from '../approvals/slack-interactions.js';
import { parseClick } from '../approvals/slack-interactions.js';
import { SLACK_MAX_SKEW_SECONDS, verifySlackRequest } from '../approvals/slack-signature.js';
import { invalidRequest, JitkeyError } from '../errors.js';
import type { Logger } from '../log.js';
import { requestClient } from '../net/request-client.js';
import type { Store } from '../store/types.js';
import type { ExtraRoutes } from './approval-routes.js';
import { readBodyBytes } from './http.js';

export const SLACK_INTERACTIONS_PATH = '/v1/slack/interactions';
/** Slack's interaction payloads are a few KiB; the app reads this route's body up to this. */
export const SLACK_BODY_BYTES = 64 * 1024;
/** The `issuer` under which seen signatures are kept in the store's used-jti table. */
const REPLAY_ISSUER = 'slack-interactions';

export interface SlackRouteDeps {
  /** `JITKEY_SLACK_SIGNING_SECRET`. */
  secret: string;
  store: Pick<Store, 'consumeJti'>;
  interactions: SlackInteractions;
  log: Logger;
  now: () => Date;
}

export function slackRoute(deps: SlackRouteDeps): ExtraRoutes {
  return async (req, res, requestId) => {
    if ((req.url ?? '').split('?')[0] !== SLACK_INTERACTIONS_PATH) return false;
    if (req.method !== 'POST') {
      throw invalidRequest(`${SLACK_INTERACTIONS_PATH} takes POST (Slack's interactivity request URL)`);
    }
    const body = await readBodyBytes(req, { limit: SLACK_BODY_BYTES });
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? undefined : v;
    };
    const signed = verifySlackRequest(
      deps.secret,
      { timestamp: header('x-slack-request-timestamp'), signature: header('x-slack-signature') },
      body,
      deps.now(),
    );
    const keepUntil = new Date(signed.timestamp.getTime() + SLACK_MAX_SKEW_SECONDS * 1000);
    if (!(await deps.store.consumeJti(signed.signature, keepUntil, REPLAY_ISSUER))) {
      throw new JitkeyError('token_replayed', 'this Slack request was already received: a replay is refused');
    }
    const type = (header('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      throw invalidRequest('a Slack interaction is application/x-www-form-urlencoded with a payload field');
    }
    const text = new URLSearchParams(body.toString('utf8')).get('payload');
    if (text === null) throw invalidRequest('the Slack interaction has no payload field');
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      throw invalidRequest('the Slack interaction payload is not JSON');
    }
    const click = parseClick(payload);
    if (!click) {
      // Another interaction (the Review link button): nothing to decide.
      res.writeHead(200).end();
      return true;
    }
    const { outcome } = await deps.interactions.click(click, requestClient(req));
    res.writeHead(200).end();
    deps.log.info('slack interaction', {
      request_id: requestId,
      approval_request: click.requestId,
      action: click.kind,
      slack_user: click.slackUser,
      outcome,
    });
    return true;
  };
}

/**
 * The approver's pages: my queue, one request, and its Approve / Deny forms. All of it goes
 * through the approvals use-case (`listAs`, `detailAs`, `decideAs`): the same rules as
 * `GET /v1/requests` and the same checks as the API's decisions, with the person the session names.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { callerBudget } from '../approvals/caller-budget.js';
import type { Approvals } from '../approvals/service.js';
import { JitkeyError } from '../errors.js';
import type { Logger } from '../log.js';
import { clientAddress } from '../net/client-address.js';
import { requestClient } from '../net/request-client.js';
import type { Policy } from '../policy/model/types.js';
import { parseReason } from '../server/approval-routes.js';
import type { ConsoleConfig } from './config.js';
import { redirect, sendHtml } from './respond.js';
import { roleSummary } from './role-summary.js';
import type { SignedIn } from './session.js';
import { duration } from './view-format.js';
import { queuePage } from './view-queue.js';
import { requestPage } from './view-request.js';

export interface PageDeps {
  approvals: Pick<Approvals, 'queuePageAs' | 'detailAs' | 'decideAs'>;
  policy: () => Policy;
  config: ConsoleConfig;
  log: Logger;
  now: () => Date;
  decisionBudget?: (peer: string) => void | Promise<void>;
}

/** Cards on the queue page at most: the newest; a person decides them before they scroll that far. */
export const QUEUE_SHOWN = 200;

const DONE: Record<string, string> = {
  approve: 'You approved this request.',
  deny: 'You denied this request.',
};

export function approverPages(deps: PageDeps) {
  // Each decision can cost GitHub calls and a refused one an audit row: counted as the API's are.
  const spend = deps.decisionBudget ?? callerBudget({ now: deps.now });
  const render = async (
    res: ServerResponse,
    who: SignedIn,
    id: string,
    extra: { status?: number; error?: string; done?: string },
  ) => {
    const detail = await deps.approvals.detailAs(id, who);
    sendHtml(
      res,
      extra.status ?? 200,
      requestPage({
        who,
        detail,
        role: roleSummary(deps.policy(), detail.view.role, detail.claims),
        now: deps.now(),
        githubWebUrl: deps.config.githubWebUrl,
        error: extra.error,
        done: extra.done,
      }),
    );
  };

  return {
    async queue(res: ServerResponse, who: SignedIn): Promise<void> {
      // The newest first, read so from the store: an approver decides those before scrolling.
      const queued = await deps.approvals.queuePageAs(who, QUEUE_SHOWN);
      const policy = deps.policy();
      const items = queued.items.map((q) => ({
        view: q.view,
        provider: policy.roles.get(q.view.role)?.provider,
        claims: q.claims,
        durationText: duration(q.durationSeconds),
      }));
      sendHtml(
        res,
        200,
        queuePage({
          who,
          items,
          total: queued.total,
          now: deps.now(),
          githubWebUrl: deps.config.githubWebUrl,
        }),
      );
    },

    async request(res: ServerResponse, who: SignedIn, id: string, url: URL): Promise<void> {
      const done = DONE[url.searchParams.get('done') ?? ''];
      await render(res, who, id, done ? { done } : {});
    },

    async decide(
      req: IncomingMessage,
      res: ServerResponse,
      who: SignedIn,
      id: string,
      kind: 'approve' | 'deny',
      form: URLSearchParams,
    ): Promise<void> {
      const text = form.get(kind === 'approve' ? 'note' : 'reason') ?? '';
      // Awaited: with workers the budget is the primary's and answers asynchronously.
      await spend(clientAddress(req));
      try {
        const reason = parseReason(text ? { reason: text } : {}, kind);
        await deps.approvals.decideAs(id, who, { kind, reason, client: requestClient(req) });
      } catch (err) {
        // A refusal the person can act on is shown on the request's page; not_found stays a 404.
        if (err instanceof JitkeyError && err.code !== 'not_found' && err.status < 500) {
          deps.log.info('console decision refused', { approval_request: id, by: who.login, code: err.code });
          return render(res, who, id, { status: err.status, error: err.message });
        }
        throw err;
      }
      deps.log.info(`console ${kind}`, { approval_request: id, by: who.login });
      redirect(res, `/console/requests/${encodeURIComponent(id)}?done=${kind}`);
    },
  };
}

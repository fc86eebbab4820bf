/**
 * The GitLab and Buildkite webhook routes of the app (`ci-webhooks.ts`): 404 unless their senders
 * are configured; each ends a run through `leases/end-run.ts`, as GitHub's webhook does.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { JitkeyError } from '../errors.js';
import { type EndRunDeps, endRun } from '../leases/end-run.js';
import type { Logger } from '../log.js';
import { requestClient } from '../net/request-client.js';
import {
  BUILDKITE_WEBHOOK_PATH,
  buildkiteWebhookRoute,
  type CiWebhookDeps,
  type CiWebhookHandler,
  GITLAB_WEBHOOK_PATH,
  gitlabWebhookRoute,
} from './ci-webhooks.js';

export type { CiWebhookDeps };
export const CI_WEBHOOK_PATHS: ReadonlySet<string> = new Set([GITLAB_WEBHOOK_PATH, BUILDKITE_WEBHOOK_PATH]);

type Handler = (req: IncomingMessage, res: ServerResponse, requestId: string, log: Logger) => Promise<void>;

export function ciRoutes(
  deps: EndRunDeps & {
    ciWebhooks?: { gitlab?: CiWebhookDeps['senders']; buildkite?: CiWebhookDeps['senders'] };
  },
  http: { bodyTimeoutMs: number; admit(res: ServerResponse): void },
): Record<string, Handler> {
  const route = (
    path: string,
    senders: CiWebhookDeps['senders'] | undefined,
    make: (d: CiWebhookDeps) => CiWebhookHandler,
    env: string,
  ): [string, Handler] => {
    const handler = make({
      senders: senders ?? [],
      endRun: (run, requestId, client, said) => endRun(deps, run, requestId, client, said),
    });
    return [
      `POST ${path}`,
      async (req, res, requestId, log) => {
        if (!senders || senders.length === 0) {
          throw new JitkeyError('not_found', `this webhook is not enabled on this exchanger (set ${env})`);
        }
        const client = requestClient(req);
        await handler(
          req,
          res,
          { requestId, timeoutMs: http.bodyTimeoutMs, admit: () => http.admit(res), client },
          log,
        );
      },
    ];
  };
  return Object.fromEntries([
    route(
      GITLAB_WEBHOOK_PATH,
      deps.ciWebhooks?.gitlab,
      gitlabWebhookRoute,
      'JITKEY_GITLAB_WEBHOOK_TOKENS_FILE',
    ),
    route(
      BUILDKITE_WEBHOOK_PATH,
      deps.ciWebhooks?.buildkite,
      buildkiteWebhookRoute,
      'JITKEY_BUILDKITE_WEBHOOK_TOKENS_FILE',
    ),
  ]);
}

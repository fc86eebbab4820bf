/**
 * GET /v1/leases/{id}/activity: what a lease's credentials did upstream (`activity/`), for the
 * policy's admins only. The caller authenticates as an approver does, with their GitHub token
 * (`Authorization: Bearer <token>`), and must be named in `admins:` (a login, or an `org/team`
 * the GitHub App answers for). Without the GitHub App there is no one to check: 404.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ApproverDirectory, identify, isApprover } from '../approvals/approvers.js';
import { activityJson } from '../audit/activity.js';
import { JitkeyError } from '../errors.js';
import { clientAddress } from '../net/client-address.js';
import type { Policy } from '../policy/model/types.js';
import type { Store } from '../store/types.js';
import { bearerToken, sendJson } from './http.js';

const PATH = /^\/v1\/leases\/([A-Za-z0-9_-]{1,64})\/activity$/;

export interface ActivityRouteDeps {
  store: Pick<Store, 'getLease' | 'leaseActivity'>;
  policy: () => Policy;
  github: ApproverDirectory | undefined;
  /** The approver-call budget: every call here asks GitHub who the caller is. */
  spend: (peer: string) => void | Promise<void>;
}

export function activityRoute(
  deps: ActivityRouteDeps,
): (req: IncomingMessage, res: ServerResponse, requestId: string) => Promise<boolean> {
  return async (req, res) => {
    const match =
      req.method === 'GET' ? PATH.exec(new URL(req.url ?? '/', 'http://localhost').pathname) : null;
    if (!match) return false;
    const leaseId = match[1]!;
    if (!deps.github) {
      throw new JitkeyError(
        'not_found',
        'lease activity is read by admins, whom this exchanger cannot check without its GitHub App',
      );
    }
    const token = bearerToken(req, 'your GitHub token');
    await deps.spend(clientAddress(req));
    const who = await identify(deps.github, token);
    const { admins } = deps.policy();
    if (!(await isApprover(deps.github, who, [...admins.logins, ...admins.teams]))) {
      throw new JitkeyError(
        'access_denied',
        `${who.login} is not among the policy's admins, who alone read lease activity`,
      );
    }
    const [lease, activity] = await Promise.all([
      deps.store.getLease(leaseId),
      deps.store.leaseActivity(leaseId),
    ]);
    if (!lease && activity.keys.length === 0) {
      throw new JitkeyError('not_found', `no lease ${leaseId} (it may have expired and been purged)`);
    }
    sendJson(res, 200, activityJson({ lease, ...activity }, leaseId));
    return true;
  };
}

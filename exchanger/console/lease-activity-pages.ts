/**
 * `GET /console/leases/{id}`: one lease and its activity, for platform admins (everyone else gets
 * the console's plain 404, as for an unknown lease). Reads what `GET /v1/leases/{id}/activity`
 * reads; events the role's `forbid_actions` names in the policy in force are marked (each was
 * flagged in the audit trail when it was found).
 */
import { forbiddenMatch } from '../activity/forbidden.js';
import { JitkeyError } from '../errors.js';
import type { Policy } from '../policy/model/types.js';
import type { Store } from '../store/types.js';
import { sendHtml } from './respond.js';
import type { ConsolePage } from './router.js';
import type { SignedIn } from './session.js';
import { leaseActivityPage } from './view-lease-activity.js';

export interface LeaseActivityPageDeps {
  store: Pick<Store, 'getLease' | 'leaseActivity'>;
  policy: () => Policy;
  requireAdmin: (who: SignedIn) => Promise<void>;
}

export function leaseActivityPages(deps: LeaseActivityPageDeps, leaseIdPattern: string): ConsolePage[] {
  return [
    {
      method: 'GET',
      path: new RegExp(`^/console/leases/${leaseIdPattern}$`),
      session: 'required',
      run: async (p) => {
        const who = p.who!;
        await deps.requireAdmin(who);
        const leaseId = p.params[0]!;
        const [lease, activity] = await Promise.all([
          deps.store.getLease(leaseId),
          deps.store.leaseActivity(leaseId),
        ]);
        if (!lease && activity.keys.length === 0) throw new JitkeyError('not_found', 'no such lease');
        const role = lease && deps.policy().roles.get(lease.role);
        const rules = role && role.provider === lease.provider ? (role.forbidActions ?? []) : [];
        const forbidden = new Map<string, string>();
        for (const e of rules.length ? activity.events : []) {
          const rule = forbiddenMatch(rules, e, lease!.provider);
          if (rule) forbidden.set(e.eventId, rule);
        }
        sendHtml(
          p.res,
          200,
          leaseActivityPage({ who, leaseId, activity: { lease, ...activity }, forbidden }),
        );
      },
    },
  ];
}

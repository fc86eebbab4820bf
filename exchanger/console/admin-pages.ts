/**
 * The platform admins' screens: leases in force with their Revoke buttons (more screens join
 * here). Each checks `admins:` first; to anyone else they are the console's plain 404.
 */
import type { ServerResponse } from 'node:http';
import { cachedDirectory } from '../approvals/identity-cache.js';
import { invalidRequest } from '../errors.js';
import { type AdminRevokeDeps, revokeByAdmin, upstreamRevocable } from '../leases/revoke-by-admin.js';
import type { Logger } from '../log.js';
import { requestClient } from '../net/request-client.js';
import type { Policy } from '../policy/model/types.js';
import type { Providers } from '../providers/types.js';
import type { Metrics } from '../server/metrics.js';
import { newRequestId } from '../server/request-id.js';
import type { Store } from '../store/types.js';
import { isAdmin, requireAdmin, type TeamDirectory } from './admins.js';
import { auditPages } from './audit-pages.js';
import { leaseActivityPages } from './lease-activity-pages.js';
import { policyPages } from './policy-pages.js';
import { redirect, sendHtml } from './respond.js';
import type { ConsolePage } from './router.js';
import type { SignedIn } from './session.js';
import { type LeaseFilterShown, leasesPage, PROVIDERS } from './view-leases.js';

export interface AdminDeps {
  github: TeamDirectory & Parameters<typeof cachedDirectory>[0];
  store: Store;
  providers: Providers;
  webhookSecret?: string | undefined;
  /** `jitkey_revocations_total`, counted as for the job's own revokes. */
  metrics?: Pick<Metrics, 'revocations'>;
  policy: () => Policy;
  log: Logger;
  now: () => Date;
}

/** Leases shown at once; a filter narrows to the rest. */
export const LEASES_SHOWN = 200;
const LEASE_ID = '([A-Za-z0-9_-]{1,64})';
const REPOSITORY = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

const DONE: Record<string, string> = {
  upstream: 'The lease is revoked, and its credential was revoked upstream.',
  marked:
    'The lease is marked revoked; its credential could not be revoked upstream (see what revoke means below).',
  already: 'That lease had already been revoked.',
};

function leaseFilter(url: URL): LeaseFilterShown {
  const pick = (name: string) => url.searchParams.get(name)?.trim() || undefined;
  const provider = pick('provider');
  const repository = pick('repository');
  const role = pick('role');
  if (provider !== undefined && !PROVIDERS.includes(provider as (typeof PROVIDERS)[number])) {
    throw invalidRequest(`provider must be one of ${PROVIDERS.join(', ')}`);
  }
  if (repository !== undefined && !REPOSITORY.test(repository)) {
    throw invalidRequest(
      `repository must be written owner/name, e.g. acme/web (got '${repository.slice(0, 100)}')`,
    );
  }
  if (role !== undefined && role.length > 200)
    throw invalidRequest('role is too long: give a role name from the policy');
  return { provider, repository, role };
}

export function adminPages(deps: AdminDeps): {
  pages: ConsolePage[];
  isAdmin: (who: SignedIn) => Promise<boolean>;
} {
  const github = cachedDirectory(deps.github, { now: deps.now }) as TeamDirectory;
  const admin = (who: SignedIn) => requireAdmin(github, deps.policy(), who);
  const revokeDeps: AdminRevokeDeps = deps;

  const leases = async (res: ServerResponse, who: SignedIn, url: URL) => {
    await admin(who);
    const filter = leaseFilter(url);
    const found = await deps.store.listActiveLeases({
      activeAt: deps.now(),
      limit: LEASES_SHOWN,
      ...(filter.provider ? { provider: filter.provider } : {}),
      ...(filter.repository ? { repository: filter.repository } : {}),
      ...(filter.role ? { role: filter.role } : {}),
    });
    sendHtml(
      res,
      200,
      leasesPage({
        who,
        items: found.map((lease) => ({ lease, upstream: upstreamRevocable(deps, lease) })),
        filter,
        roles: [...deps.policy().roles.keys()].sort(),
        now: deps.now(),
        limit: LEASES_SHOWN,
        done: DONE[url.searchParams.get('done') ?? ''],
      }),
    );
  };

  const pages: ConsolePage[] = [
    {
      method: 'GET',
      path: /^\/console\/leases$/,
      session: 'required',
      run: (p) => leases(p.res, p.who!, p.url),
    },
    {
      method: 'POST',
      path: new RegExp(`^/console/leases/${LEASE_ID}/revoke$`),
      session: 'required',
      run: async (p) => {
        const who = p.who!;
        await admin(who);
        const requestId = newRequestId();
        const out = await revokeByAdmin(revokeDeps, p.params[0]!, who, requestId, requestClient(p.req));
        if (!out.already) {
          deps.metrics?.revocations.inc({
            provider: out.lease.provider,
            outcome: out.upstream ? 'upstream' : 'local',
          });
        }
        deps.log.info('console revoke', {
          request_id: requestId,
          lease_id: out.lease.id,
          provider: out.lease.provider,
          by: who.login,
          upstream: out.upstream,
          already: out.already,
        });
        redirect(
          p.res,
          `/console/leases?done=${out.already ? 'already' : out.upstream ? 'upstream' : 'marked'}`,
        );
      },
    },
  ];
  const adminCheck = (who: SignedIn) => isAdmin(github, deps.policy(), who);
  pages.push(...auditPages({ store: deps.store, isAdmin: adminCheck, log: deps.log, now: deps.now }));
  pages.push(
    ...leaseActivityPages({ store: deps.store, policy: deps.policy, requireAdmin: admin }, LEASE_ID),
  );
  pages.push(...policyPages({ store: deps.store, policy: deps.policy, requireAdmin: admin }));
  return { pages, isAdmin: adminCheck };
}

/**
 * Which token issuers a role trusts. With one trusted issuer every role is bound to it; with more,
 * each role must say which (`issuers:` on the role, or `teams.<name>.issuers` in org.yaml for a
 * team's roles), so that a token from issuer B never gets a role meant for issuer A's jobs even
 * when its claims are identical. Checked at load (here) and on every exchange (`issuer-refusal.ts`).
 */

import type { SourcePosition } from '../model/types.js';
import type { RoleDoc } from './doc.js';

type Report = (at: SourcePosition, message: string) => void;

/**
 * Load errors for one role's binding. `team`: the team's own `issuers` (org.yaml), which both
 * bind the team's roles that name none and limit those that do.
 */
export function checkRoleIssuers(
  role: RoleDoc,
  trusted: readonly string[],
  error: Report,
  team?: { name: string; issuers?: readonly string[] },
): void {
  const path = `roles.${role.name}.issuers`;
  const allowed = team?.issuers ?? trusted;
  for (const i of role.issuers ?? []) {
    if (!trusted.includes(i.value)) {
      error(
        i.position,
        `${path}: '${i.value}' is not one of the policy's issuers (${trusted.join(', ')}); ` +
          'name a url listed under issuers',
      );
    } else if (!allowed.includes(i.value)) {
      error(
        i.position,
        `${path}: '${i.value}' is not among teams.${team?.name}.issuers in org.yaml ` +
          `(${allowed.join(', ')}); only those issuers' tokens may get this team's roles`,
      );
    }
  }
  if (trusted.length > 1 && !role.issuers && !team?.issuers) {
    const where = team ? ` (or teams.${team.name}.issuers in org.yaml for all of team '${team.name}')` : '';
    error(
      role.position,
      `roles.${role.name}: the policy trusts ${trusted.length} issuers; say which this role trusts with ` +
        `issuers: [url]${where}, or a token from any of them could get it`,
    );
  }
}

/** The issuers a compiled role is bound to: its own, else (in a directory) its team's. */
export function boundIssuers(role: RoleDoc): string[] | undefined {
  return role.issuers?.map((i) => i.value) ?? role.teamIssuers;
}

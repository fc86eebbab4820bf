/**
 * One team file of a policy directory: `owners` (the repositories it may grant to) and `roles`
 * (exactly as in a single-file policy). Durations default from `org.yaml`, capped by the team's
 * and the org's ceilings; what the org decides is checked afterwards in `org-checks.ts`.
 */

import type { PolicyIssue } from '../model/errors.js';
import type { OrgDoc, PatternDoc, TeamDoc } from './doc.js';
import { TEAM_KEYS } from './keys.js';
import type { ParsedPolicy } from './parse.js';
import { type Field, Reader } from './read.js';
import { readVersion } from './validate.js';
import { readRole } from './validate-role.js';

/** The longest `max_duration` a role of this team may have, or undefined when nothing caps it. */
export function teamCeiling(org: OrgDoc, team: string): number | undefined {
  const caps = [org.ceilings.maxDurationSeconds, org.teams.get(team)?.maxDurationSeconds];
  const set = caps.filter((c): c is number => c !== undefined);
  return set.length > 0 ? Math.min(...set) : undefined;
}

export function validateTeam(
  parsed: ParsedPolicy,
  team: string,
  org: OrgDoc,
): { doc: TeamDoc; issues: PolicyIssue[] } {
  const r = new Reader(parsed);
  const doc: TeamDoc = { file: parsed.file, team, owners: [], roles: [] };
  const root = r.node(parsed.doc.contents);
  if (!root) {
    r.error({ line: 1, col: 1 }, 'the team file is empty: it needs version, owners and roles');
    return { doc, issues: r.issues };
  }
  const hint =
    '; issuers, defaults, admins, ceilings and guardrails belong in org.yaml (the platform team decides them)';
  const f = r.fields(root, TEAM_KEYS, 'the team file', undefined, hint);
  if (!f) return { doc, issues: r.issues };
  readVersion(r, f, 'the team file', root);
  const owners = r.require(f, 'owners', 'the team file', root);
  if (owners) doc.owners = readOwners(r, owners);
  const ceiling = teamCeiling(org, team);
  const defaults = {
    durationSeconds: org.defaults.durationSeconds,
    maxDurationSeconds: Math.min(org.defaults.maxDurationSeconds, ceiling ?? Number.POSITIVE_INFINITY),
  };
  defaults.durationSeconds = Math.min(defaults.durationSeconds, defaults.maxDurationSeconds);
  const roles = r.require(f, 'roles', 'the team file', root);
  const entries = roles ? r.entries(roles.value, 'roles', roles.key) : undefined;
  if (roles && entries?.length === 0) r.error(roles.value, 'roles is empty: define at least one role');
  const teamIssuers = org.teams.get(team)?.issuers;
  for (const entry of entries ?? []) {
    const role = readRole(r, entry, defaults);
    if (role && teamIssuers) role.teamIssuers = teamIssuers;
    if (role) doc.roles.push(role);
  }
  return { doc, issues: r.issues };
}

/** `owner/name-glob`: the owner is named exactly (a wildcard owner would reach all of GitHub). */
function readOwners(r: Reader, field: Field): PatternDoc[] {
  const out: PatternDoc[] = [];
  for (const o of r.strings(field, 'owners', { nonEmpty: true })) {
    const slash = o.value.indexOf('/');
    const owner = slash < 0 ? '' : o.value.slice(0, slash);
    const name = slash < 0 ? '' : o.value.slice(slash + 1);
    if (slash < 0 || owner === '' || name === '' || name.includes('/')) {
      r.error(o.node, `owners: '${o.value}' must be owner/name, owner/prefix-* or owner/* (one '/')`);
    } else if (owner.includes('*')) {
      r.error(o.node, `owners: '${o.value}' has a wildcard owner: name the GitHub owner`);
    } else out.push({ value: o.value, position: r.pos(o.node) });
  }
  return out;
}

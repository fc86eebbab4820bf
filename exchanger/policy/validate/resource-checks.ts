/**
 * Teams own resources: a team file's role may grant only what `org.yaml` puts in its team's
 * scope (`teams.<name>.resources`) or in a `shared` entry that lists the team, and a resource in
 * another team's scope only through a `shared` entry naming both. A team with no scope for a
 * provider cannot grant it at all, so every resource a directory hands out is assigned in
 * `org.yaml` (the platform team's own roles live in its own team file, with its own scope).
 */

import { asciiLower } from '../model/glob.js';
import type { SourcePosition } from '../model/types.js';
import type { OrgDoc, RoleDoc, SharedDoc, TeamDoc } from './doc.js';
import {
  audiencesOutside,
  type Granted,
  grantedBy,
  holds,
  permissionsAbove,
  resourceKeys,
  scopeKeys,
} from './resource-match.js';
import type { ResourceProvider, ResourcesDoc } from './resources.js';

type Report = (at: SourcePosition, message: string) => void;

/** `aws: accounts 111122223333, role_arns arn:…` — what a scope holds, for messages. */
export function describeScope(scope: ResourcesDoc, provider: ResourceProvider): string {
  const parts: string[] = [];
  const add = (key: string, values: readonly string[] | undefined) => {
    if (values && values.length > 0) parts.push(`${key} ${values.join(', ')}`);
  };
  if (provider === 'aws') {
    add('accounts', scope.aws?.accounts);
    add('role_arns', scope.aws?.roleArns);
  } else if (provider === 'gcp') {
    add('projects', scope.gcp?.projects);
    add('service_accounts', scope.gcp?.serviceAccounts);
  } else if (provider === 'kubernetes') {
    add('clusters', scope.kubernetes?.clusters);
    add('namespaces', scope.kubernetes?.namespaces);
    add('service_accounts', scope.kubernetes?.serviceAccounts);
  } else {
    add('repositories', scope.github?.repositories);
  }
  return parts.join('; ') || 'nothing';
}

export function checkResources(org: OrgDoc, team: TeamDoc, role: RoleDoc, error: Report): void {
  const provider = role.provider;
  if (!provider) return;
  const name = team.team;
  const own = org.teams.get(name)?.resources;
  const ownHas = own?.[provider] ? own : undefined;
  const shared = org.shared.filter((s) => s.teams.includes(name) && s.resources[provider]);
  const at = role.resourcePosition ?? role.providerPosition ?? role.position;
  const path = `roles.${role.name}`;
  if (!ownHas && shared.length === 0) {
    error(
      at,
      `${path}: team '${name}' has no ${provider} resources in ${org.file}, so it may grant none: ` +
        `the platform team adds teams.${name}.resources.${provider} there (or a shared: entry listing '${name}')`,
    );
    return;
  }
  for (const g of grantedBy(role, org.clusters)) {
    const mine = ownHas !== undefined && holds(ownHas, g, org.clusters);
    const viaShared = shared.filter((s) => holds(s.resources, g, org.clusters));
    if (!mine && viaShared.length === 0) {
      const scope = ownHas
        ? `teams.${name}.resources.${provider} (${describeScope(ownHas, provider)})`
        : `no teams.${name}.resources.${provider}`;
      error(
        at,
        `${path}.${g.key}: '${g.id}' is outside team '${name}' resources in ${org.file}: ${scope}; ` +
          `grant a resource of the team's, or have the platform team add it to teams.${name}.resources.${provider}`,
      );
      continue;
    }
    // A shared entry is the resource's owners: one that leaves this team out keeps it out, even
    // where the team's own scope is wider (`role/*` beside an entry for payments and data).
    for (const s of org.shared) {
      if (s.teams.includes(name) || !s.resources[provider] || !holds(s.resources, g, org.clusters)) continue;
      error(
        at,
        `${path}.${g.key}: '${g.id}' is shared in ${org.file} (${org.file}:${s.position.line}:${s.position.col}) ` +
          `only with ${s.teams.map((t) => `'${t}'`).join(', ')}; grant a resource of the team's, or have the ` +
          `platform team add '${name}' to that shared: entry`,
      );
    }
    for (const other of teamsThatMayHold(org, g)) {
      const limits = org.teams.get(other);
      if (other === name || !limits?.resources?.[provider] || !holds(limits.resources, g, org.clusters))
        continue;
      if (viaShared.some((s) => s.teams.includes(other))) continue;
      error(
        at,
        `${path}.${g.key}: '${g.id}' is also in team '${other}' resources (${org.file}:` +
          `${limits.resources.position.line}:${limits.resources.position.col}); two teams may grant one ` +
          `resource only when ${org.file} lists it under shared: with both teams`,
      );
    }
    checkCaps(role, g, [...(mine ? [ownHas] : []), ...viaShared.map((s) => s.resources)], path, at, error);
  }
}

/** Team names by scope key (`resource-match.scopeKeys`), built once per org.yaml. */
const indexes = new WeakMap<OrgDoc, { byKey: Map<string, string[]>; open: string[] }>();

/** The teams whose scope may hold `g`: those under one of its keys, and those a glob leaves open. */
function teamsThatMayHold(org: OrgDoc, g: Granted): string[] {
  let index = indexes.get(org);
  if (!index) {
    index = { byKey: new Map(), open: [] };
    for (const [name, limits] of org.teams) {
      if (!limits.resources) continue;
      const keys = scopeKeys(limits.resources, org.clusters);
      if (!keys) index.open.push(name);
      for (const k of new Set(keys)) index.byKey.set(k, [...(index.byKey.get(k) ?? []), name]);
    }
    indexes.set(org, index);
  }
  const found = new Set<string>(index.open);
  for (const key of resourceKeys(g)) for (const t of index.byKey.get(key) ?? []) found.add(t);
  return [...found];
}

/**
 * GitHub permissions, Kubernetes audiences and AWS session tag keys must fit the cap of some scope
 * holding the resource. A session tag is the principal's tag to IAM, and overrides the role's own
 * tag of that key: a team free to tag `team: payments` would pass payments' ABAC conditions.
 */
function checkCaps(
  role: RoleDoc,
  g: Granted,
  scopes: ResourcesDoc[],
  path: string,
  at: SourcePosition,
  error: Report,
): void {
  if (g.github && role.github) {
    const tries = scopes.map((s) => permissionsAbove(role.github!.permissions, s.github?.permissions));
    if (!tries.some((over) => over.length === 0)) {
      error(
        at,
        `${path}.github.permissions on '${g.id}': ${tries[0]?.join(', ')} is above what its team's resources allow; ` +
          'ask for less, or have the platform team raise github.permissions in org.yaml',
      );
    }
  }
  const tagKeys = Object.keys(g.aws ? (role.aws?.sessionTags ?? {}) : {});
  if (tagKeys.length > 0) {
    // IAM compares tag keys case-insensitively.
    const outside = (s: ResourcesDoc) =>
      tagKeys.filter((k) => !s.aws?.sessionTags?.some((t) => asciiLower(t) === asciiLower(k)));
    const tries = scopes.map(outside);
    if (!tries.some((left) => left.length === 0)) {
      error(
        at,
        `${path}.aws.session_tags: ${tries[0]?.join(', ')} not in its team's aws.session_tags in org.yaml; IAM reads a ` +
          "session tag as the principal's own (over the role's tag of that key), so the platform team says which " +
          'keys a team may set: drop the tag, or have the platform team list it there',
      );
    }
  }
  if (g.kubernetes && role.kubernetes && role.kubernetes.audiences.length > 0) {
    const tries = scopes.map((s) => audiencesOutside(role.kubernetes!.audiences, s));
    if (!tries.some((outside) => outside.length === 0)) {
      error(
        at,
        `${path}.kubernetes.audiences: ${tries[0]?.join(', ')} not in its team's kubernetes.audiences; ` +
          'drop the audience, or have the platform team list it in org.yaml',
      );
    }
  }
}

/** Load errors in `org.yaml` itself: a `shared` entry naming a team without a file. */
export function checkShared(
  org: OrgDoc,
  present: ReadonlySet<string>,
): { at: SourcePosition; message: string }[] {
  const out: { at: SourcePosition; message: string }[] = [];
  org.shared.forEach((s: SharedDoc, i) => {
    for (const t of s.teams) {
      if (!present.has(t))
        out.push({
          at: s.position,
          message: `shared[${i}].teams: no team file '${t}.yaml' in the directory`,
        });
    }
  });
  return out;
}

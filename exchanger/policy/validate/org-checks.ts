/**
 * What `org.yaml` decides over the team files, checked once every file is read: a role may not
 * reach outside its team's `owners`, exceed the ceilings, use a provider its team may not, or
 * reuse another file's role name. Each problem is a load error at the team file's line:col.
 */
import { formatDuration } from '../../duration.js';
import { isLoopbackHost } from '../../net/url-rule.js';
import type { PolicyIssue } from '../model/errors.js';
import { asciiLower, compilePattern } from '../model/glob.js';
import type { SourcePosition } from '../model/types.js';
import type { ConditionDoc, OrgDoc, PatternDoc, RoleDoc, RuleDoc, TeamDoc } from './doc.js';
import { checkRoleKinds } from './issuer-kinds.js';
import { checkResources, checkShared } from './resource-checks.js';
import { grantedBy, holds, isPrivileged, permissionAtLeast, writesAny } from './resource-match.js';
import type { ClusterNames, ResourcesDoc } from './resources.js';
import { checkRoleIssuers } from './role-issuers.js';
import { organizationPermissions } from './validate-permissions.js';
import { teamCeiling } from './validate-team.js';

/** `present`: every team with a file, read or not (a file with a syntax error is still there). */
export function checkTeams(
  org: OrgDoc,
  teams: readonly TeamDoc[],
  present: ReadonlySet<string>,
): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const seen = new Map<string, { file: string; position: SourcePosition }>();
  const trusted = org.issuers.map((i) => i.url);
  for (const team of teams) {
    const error = (at: SourcePosition, message: string) =>
      issues.push({ file: team.file, line: at.line, col: at.col, message });
    for (const role of team.roles) {
      const key = role.name.toLowerCase();
      const first = seen.get(key);
      if (first) {
        error(
          role.position,
          `role '${role.name}' is also defined at ${first.file}:${first.position.line}:${first.position.col}: ` +
            'role names must be unique across the policy directory',
        );
      } else seen.set(key, { file: team.file, position: role.position });
      checkCeilings(org, team, role, error);
      checkTeamNotify(role, error);
      // The kinds first: ownership reads each rule's own system's project claims.
      checkRoleKinds(role, org.issuers, error);
      checkOwnership(team, role, error);
      checkResources(org, team, role, error);
      const limits = org.teams.get(team.team);
      const bound = limits?.issuers ? { name: team.team, issuers: limits.issuers } : { name: team.team };
      checkRoleIssuers(role, trusted, error, bound);
    }
  }
  // A limit for a team with no file is most likely a misspelt name: the real team would run
  // without the limit the platform team meant to set.
  for (const [name, limits] of org.teams) {
    if (!present.has(name)) {
      const { line, col } = limits.position;
      issues.push({
        file: org.file,
        line,
        col,
        message: `teams.${name}: no team file '${name}.yaml' in the directory`,
      });
    }
  }
  for (const { at, message } of checkShared(org, present)) {
    issues.push({ file: org.file, line: at.line, col: at.col, message });
  }
  for (const g of org.guardrails) {
    for (const name of g.appliesTo.teams ?? []) {
      if (!present.has(name)) {
        issues.push({
          file: org.file,
          line: g.position.line,
          col: g.position.col,
          message: `guardrails.${g.name}.applies_to.teams: no team file '${name}.yaml' in the directory`,
        });
      }
    }
  }
  return issues;
}

type Report = (at: SourcePosition, message: string) => void;

/** Not https, or the exchanger's own host, as `fetch` reads the URL (`HTTP://`, `http:/x` too). */
function reachesOwnHost(url: string): boolean {
  try {
    const parsed = new URL(url.trim());
    return parsed.protocol !== 'https:' || isLoopbackHost(parsed.hostname);
  } catch {
    return false; // not a URL: the notify reader said so already
  }
}

/**
 * A team file's `notify` URLs are https. `http://` is allowed on loopback only (for tests), and
 * loopback is the exchanger's own host, whose local services a team has no business posting to
 * (a sidecar's admin port, say).
 */
function checkTeamNotify(role: RoleDoc, error: Report): void {
  const targets = [
    ['approval.notify', role.approval?.notify],
    ['approval.escalate.notify', role.approval?.escalate?.notify],
  ] as const;
  for (const [key, target] of targets) {
    const url = typeof target === 'string' ? target : target?.slack;
    if (url !== undefined && reachesOwnHost(url)) {
      error(
        role.position,
        `roles.${role.name}.${key}: a team file may not notify ${url}: write an https:// URL of another host (plain http and loopback reach the exchanger's own host: for single-file test policies only)`,
      );
    }
  }
}

function checkCeilings(org: OrgDoc, team: TeamDoc, role: RoleDoc, error: Report): void {
  const path = `roles.${role.name}`;
  const allowed = org.teams.get(team.team)?.providers ?? org.ceilings.providers;
  if (role.provider && allowed && !allowed.includes(role.provider)) {
    const by = org.teams.get(team.team)?.providers ? `teams.${team.team}.providers` : 'ceilings.providers';
    error(
      role.providerPosition ?? role.position,
      `${path}.provider: team '${team.team}' may not use '${role.provider}' (${org.file} ${by} allows ${allowed.join(', ')})`,
    );
  }
  const ceiling = teamCeiling(org, team.team);
  if (ceiling !== undefined && role.maxDurationSeconds > ceiling) {
    error(
      role.maxDurationPosition ?? role.position,
      `${path}.max_duration: ${formatDuration(role.maxDurationSeconds)} is above the ceiling of ` +
        `${formatDuration(ceiling)} set in ${org.file} for team '${team.team}'`,
    );
  }
}

/**
 * A role stays inside `owners` when each allow rule has a `repository` or `repository_owner`
 * condition all of whose patterns fall inside some owner glob, and every repository a github role
 * names does. Rules pinned by ids alone cannot be checked against names, so they are refused.
 */
function checkOwnership(team: TeamDoc, role: RoleDoc, error: Report): void {
  if (team.owners.length === 0) return; // reported as a missing or empty `owners`
  const owners = team.owners.map((o) => o.value).join(', ');
  const outside = `outside team '${team.team}' owners (${owners})`;
  for (const rule of role.allow) {
    const path = `roles.${role.name}.allow[${rule.index}]`;
    // A rule read for another CI system names its own project and owner (`ownedBy`).
    const names = ownedBy(rule);
    const pins = rule.conditions.filter((c) => !c.custom && names.includes(c.claim));
    if (pins.length === 0) {
      if (rule.conditions.length > 0) {
        error(
          rule.position,
          `${path} pins no ${names.join(' or ')}: ownership cannot be checked on ids; add one`,
        );
      }
      continue;
    }
    if (pins.some((c) => c.patterns.every((p) => inside(team.owners, c, p.value)))) continue;
    const c = pins[0]!;
    const bad = c.patterns.find((p) => !inside(team.owners, c, p.value))!;
    error(bad.position, `${path}.${c.claim}: '${bad.value}' reaches ${outside}`);
  }
  for (const repo of role.github?.repositories ?? []) {
    if (!repositoryInside(team.owners, repo)) {
      error(role.position, `roles.${role.name}.github.repositories: '${repo}' is ${outside}`);
    }
  }
}

/**
 * The claims a rule's ownership is read from: GitHub's `repository` / `repository_owner`; for a
 * rule read only for other kinds, GitLab's `project_path` / `namespace_path` (the group), a
 * Buildkite `organization_slug` (the owner), CircleCI's `vcs-origin` (`host/owner/repo`).
 */
function ownedBy(rule: RuleDoc): string[] {
  if (!rule.kinds || rule.kinds.length === 0 || rule.kinds.includes('github')) {
    return ['repository', 'repository_owner'];
  }
  const kind = rule.kinds[0];
  if (kind === 'gitlab') return ['project_path', 'namespace_path'];
  if (kind === 'buildkite') return ['organization_slug'];
  return ['oidc.circleci.com/vcs-origin'];
}

function inside(owners: readonly PatternDoc[], c: ConditionDoc, pattern: string): boolean {
  if (c.claim === 'repository') return repositoryInside(owners, pattern);
  // GitLab: a top-level group and one project name, as owner/name (subgroups are not owned yet).
  if (c.claim === 'project_path') return repositoryInside(owners, pattern);
  if (c.claim === 'oidc.circleci.com/vcs-origin') {
    const slash = pattern.indexOf('/');
    return (
      slash > 0 &&
      !pattern.slice(0, slash).includes('*') &&
      repositoryInside(owners, pattern.slice(slash + 1))
    );
  }
  return ownerInside(owners, pattern);
}

/**
 * Pattern P lies inside owner glob G when G matches P's text with P's `*` taken literally: each
 * of P's stars then sits inside one of G's stars (G has no literal `*`), and a run without `/`
 * stays one. A repository has one `/`, so P's `**` reaches no further than `*` does as long as
 * P writes its `/`; without it P is refused (it would match across owners).
 */
function repositoryInside(owners: readonly PatternDoc[], pattern: string): boolean {
  const text = pattern.replaceAll('**', '*');
  if (text.split('/').length !== 2) return false;
  return owners.some((o) => compilePattern(o.value, { foldCase: true })(text));
}

/** `repository_owner: acme` reaches all of acme's repositories: only `acme/*` owners cover it. */
function ownerInside(owners: readonly PatternDoc[], pattern: string): boolean {
  if (pattern.includes('*')) return false;
  return owners.some((o) => {
    const [owner, name] = o.value.split('/');
    return (name === '*' || name === '**') && owner?.toLowerCase() === pattern.toLowerCase();
  });
}

/** Whether a guardrail's selector picks a role of a team. */
export function selects(
  selector: OrgDoc['guardrails'][number]['appliesTo'],
  role: RoleDoc,
  team: string,
  clusters: ClusterNames,
): boolean {
  // Role names are unique case-insensitively: `PROD-web` is a `prod-*` role.
  if (selector.roles && !selector.roles.some((p) => compilePattern(p, { foldCase: true })(role.name)))
    return false;
  if (selector.providers && !(role.provider && selector.providers.includes(role.provider))) return false;
  if (selector.teams && !selector.teams.includes(team)) return false;
  if (selector.write !== undefined && isPrivileged(role) !== selector.write) return false;
  if (selector.resources && !grantsFrom(selector.resources, role, clusters)) return false;
  return true;
}

/**
 * A role with an organization permission acts on every repository of its owner: a selector that
 * names a repository of that owner selects it, whatever repositories the role lists (its
 * permissions and `write` still have to fit the selector's).
 */
function actsOrgWide(selector: ResourcesDoc, role: RoleDoc): boolean {
  const gh = role.github;
  const want = selector.github;
  if (!gh || !want) return false;
  // Only the organization permissions reach the other repositories.
  const org = Object.fromEntries(organizationPermissions(gh.permissions).map((p) => [p, gh.permissions[p]!]));
  if (Object.keys(org).length === 0) return false;
  // Selector owners are exact (a scope's repositories refuse a wildcard owner), case-insensitive.
  const owner = asciiLower(gh.repositories[0]?.split('/')[0] ?? '');
  if (want.repositories.length > 0 && !want.repositories.some((p) => asciiLower(p.split('/')[0]!) === owner))
    return false;
  if (want.permissions && !permissionAtLeast(org, want.permissions)) return false;
  return want.write === undefined || writesAny(org) === want.write;
}

/**
 * Whether a role grants something a selector's provider blocks hold (with several blocks, any):
 * the same ARN under another role name is selected all the same.
 */
function grantsFrom(selector: ResourcesDoc, role: RoleDoc, clusters: ClusterNames): boolean {
  const github = selector.github?.permissions;
  const audiences = selector.kubernetes?.audiences;
  if (actsOrgWide(selector, role)) return true;
  return grantedBy(role, clusters).some((g) => {
    if (!holds(selector, g, clusters)) return false;
    if (g.github && github && !permissionAtLeast(role.github?.permissions ?? {}, github)) return false;
    const write = selector.github?.write;
    if (g.github && write !== undefined && writesAny(role.github?.permissions ?? {}) !== write) return false;
    if (g.kubernetes && audiences && !role.kubernetes?.audiences.some((a) => audiences.includes(a)))
      return false;
    return true;
  });
}

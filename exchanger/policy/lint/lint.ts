/**
 * `jitkey check` warnings: valid policies that are probably not what their author meant.
 * "Privileged" roles (for the pull_request check) are `isPrivileged`'s (`validate/resource-match.ts`).
 */

import type { PolicyIssue } from '../model/errors.js';
import { compilePatterns } from '../model/glob.js';
import type { SourcePosition } from '../model/types.js';
import type { ConditionDoc, PolicyDoc, RoleDoc, RuleDoc } from '../validate/doc.js';
import { isPrivileged } from '../validate/resource-match.js';
import { organizationPermissions } from '../validate/validate-permissions.js';
import { ownerPart } from '../validate/validate-rules.js';
import { type KindLintCode, lintKinds } from './issuer-kinds-lint.js';

export type LintCode =
  | 'repository-without-id'
  | 'owner-glob'
  | 'no-allow'
  | 'pull-request-reachable'
  | 'workflow-run-reachable'
  | 'write-unpinned'
  | 'workflow-name'
  | 'actor-login'
  | 'kubernetes-unapproved'
  | 'guardrail-unread-claim'
  | 'guardrail-optional-claim'
  | 'github-org-permission'
  | KindLintCode;

export interface LintWarning extends PolicyIssue {
  code: LintCode;
}

/** Events that run on behalf of a pull request (its author may not be trusted with the role). */
export const PULL_REQUEST_EVENTS = [
  'pull_request',
  'pull_request_target',
  'pull_request_review',
  'pull_request_review_comment',
] as const;

/** Conditions whose value starts with the owner (`sub` after its `repo:` prefix). */
const OWNER_POSITIONED: ReadonlySet<string> = new Set([
  'repository',
  'repository_owner',
  'sub',
  'workflow_ref',
  'job_workflow_ref',
]);

/**
 * `guardrails` gives, for a role of a policy directory, the org's deny rules that select it:
 * an event a guardrail refuses is not reported as reachable.
 */
export function lintPolicy(
  doc: Pick<PolicyDoc, 'file' | 'roles'>,
  guardrails: (role: RoleDoc) => readonly RuleDoc[] = () => [],
): LintWarning[] {
  const out: LintWarning[] = [];
  const warn = (at: SourcePosition, code: LintCode, message: string) =>
    out.push({ file: doc.file, line: at.line, col: at.col, code, message });
  for (const role of doc.roles) {
    const path = `roles.${role.name}`;
    if (role.allow.length === 0) {
      warn(role.position, 'no-allow', `role '${role.name}' has no allow rules: it can never be granted`);
    }
    // GitHub's checks read the rules GitHub tokens meet; other kinds' pitfalls are their own.
    const gh = githubRules(role);
    for (const rule of [...gh.allow, ...gh.deny]) lintRule(rule, `${path}.${rule.kind}[${rule.index}]`, warn);
    if (gh.allow.length > 0) {
      lintUntrustedEvents(gh, guardrails(role), warn);
      lintUnpinnedWrite(gh, warn);
    }
    lintKubernetes(role, warn);
    lintOrgPermissions(role, warn);
    lintKinds(role, isPrivileged(role), warn);
  }
  return out;
}

type Warn = (at: SourcePosition, code: LintCode, message: string) => void;

const readByGithub = (rule: RuleDoc) => !rule.kinds || rule.kinds.includes('github');

/** The role as GitHub tokens see it: the rules read for a GitHub issuer. */
function githubRules(role: RoleDoc): RoleDoc {
  return { ...role, allow: role.allow.filter(readByGithub), deny: role.deny.filter(readByGithub) };
}

function lintRule(rule: RuleDoc, path: string, warn: Warn): void {
  const has = (claim: string) => rule.conditions.some((c) => !c.custom && c.claim === claim);
  for (const c of rule.conditions) {
    if (c.custom) continue;
    if (rule.kind === 'allow' && c.claim === 'repository') lintRepositoryId(c, path, has, warn);
    if (rule.kind === 'allow' && OWNER_POSITIONED.has(c.claim)) lintOwnerGlobs(c, path, warn);
    if (c.claim === 'workflow' && !has('job_workflow_ref') && !has('workflow_ref')) {
      warn(
        c.position,
        'workflow-name',
        `${path}.workflow matches the workflow's display name, which any edit of the file can change: ` +
          'use job_workflow_ref or workflow_ref',
      );
    }
    if (c.claim === 'actor' && !has('actor_id')) {
      warn(
        c.position,
        'actor-login',
        `${path}.actor matches a login, which can be renamed and re-registered: use actor_id`,
      );
    }
  }
}

/**
 * A name can change hands (rename, delete and re-create); an id cannot. An exact repository
 * wants `repository_id`; a glob over an owner's repositories wants `repository_owner_id`.
 */
function lintRepositoryId(c: ConditionDoc, path: string, has: (claim: string) => boolean, warn: Warn): void {
  if (has('repository_id')) return;
  const globbed = c.patterns.some((p) => p.value.includes('*'));
  if (globbed && has('repository_owner_id')) return;
  const add = globbed ? 'repository_owner_id' : 'repository_id';
  warn(
    c.position,
    'repository-without-id',
    `${path} names repository without repository_id: a renamed or deleted repository's name can be ` +
      `taken by another; add ${add} (immutable) as well`,
  );
}

function lintOwnerGlobs(c: ConditionDoc, path: string, warn: Warn): void {
  for (const p of c.patterns) {
    const value = c.claim === 'sub' && p.value.startsWith('repo:') ? p.value.slice(5) : p.value;
    if (!ownerPart(c.claim, value).includes('*')) continue;
    warn(
      p.position,
      'owner-glob',
      `${path}.${c.claim}: '${p.value}' has a wildcard in the owner position: it matches repositories of ` +
        'any owner on GitHub; name the owner',
    );
  }
}

/** Namespaces that hold the cluster's own machinery. */
const SYSTEM_NAMESPACES: ReadonlySet<string> = new Set(['kube-system', 'kube-public', 'kube-node-lease']);
/** Service account names that usually come with cluster-wide bindings. */
const ADMIN_ACCOUNT = /(^|[-.])(cluster-admin|admin|root)([-.]|$)/;

/**
 * A token for the cluster's own namespaces, or for an admin-looking service account, opens the
 * whole cluster: such a role should need a human's approval per use.
 */
function lintKubernetes(role: RoleDoc, warn: Warn): void {
  const k = role.kubernetes;
  if (!k || role.approval) return; // `kubernetes` is set only on kubernetes roles
  const why = SYSTEM_NAMESPACES.has(k.namespace)
    ? `its namespace '${k.namespace}' holds the cluster's own components`
    : ADMIN_ACCOUNT.test(k.serviceAccount)
      ? `its service account '${k.serviceAccount}' looks cluster-admin-like`
      : undefined;
  if (!why) return;
  warn(
    role.position,
    'kubernetes-unapproved',
    `role '${role.name}' (kubernetes): ${why}, and the role has no approval: add ` +
      'approval: { approvers: [...] } or use a namespaced deploy service account',
  );
}

/**
 * A privileged role that some allow rule admits from an event no deny refuses: pull_request*
 * (code the role's owners have not reviewed), and workflow_run (runs with the base repository's
 * rights after an untrusted workflow, the shape of the Ultralytics compromise).
 */
function lintUntrustedEvents(role: RoleDoc, guardrails: readonly RuleDoc[], warn: Warn): void {
  if (!isPrivileged(role)) return;
  const denied = (event: string) =>
    [...role.deny, ...guardrails].some(
      (d) =>
        d.conditions.length > 0 &&
        d.conditions.every((c) => !c.custom && c.claim === 'event_name' && admits(c, event)),
    );
  for (const rule of role.allow) {
    const events = rule.conditions.filter((c) => !c.custom && c.claim === 'event_name');
    const reachable = (list: readonly string[]) =>
      list.filter((e) => events.every((c) => admits(c, e)) && !denied(e));
    const report = (list: string[], code: LintCode, what: string) => {
      if (list.length === 0) return;
      const names = list.join(', ');
      const how =
        events.length === 0
          ? `does not pin event_name and no deny rule refuses ${names}`
          : `admits ${names} and no deny rule refuses ${list.length === 1 ? 'it' : 'them'}`;
      warn(
        rule.position,
        code,
        `role '${role.name}' (privileged) is reachable from ${what}: allow[${rule.index}] ${how}; ` +
          'pin event_name or deny those events',
      );
    };
    report(reachable(PULL_REQUEST_EVENTS), 'pull-request-reachable', 'pull request events');
    report(reachable(['workflow_run']), 'workflow-run-reachable', 'workflow_run');
  }
}

/**
 * A privileged role should be reachable only from reviewed code: an allow rule that pins no
 * `ref` lets any branch's workflow in, unless the role requires a protected environment (whose
 * deployment branch rules and reviewers then decide) or the rule pins a reusable workflow at an
 * exact ref (`job_workflow_ref: …@refs/heads/main`: the code that runs is then the reviewed one).
 */
function lintUnpinnedWrite(role: RoleDoc, warn: Warn): void {
  if (!isPrivileged(role) || role.requireProtectedEnvironment) return;
  for (const rule of role.allow) {
    if (rule.conditions.some((c) => !c.custom && (c.claim === 'ref' || pinsWorkflowRef(c)))) continue;
    warn(
      rule.position,
      'write-unpinned',
      `role '${role.name}' (privileged) allow[${rule.index}] pins no ref: any branch can use it; ` +
        'add ref (e.g. refs/heads/main) or require_protected_environment: true',
    );
  }
}

/**
 * A GitHub App's organization permissions act on the whole organization: the repositories a role
 * lists do not bound them. A team scope caps them only if it holds all of the owner
 * (`validate/resources.ts`); guardrails select such a role by its owner (`validate/org-checks.ts`).
 */
function lintOrgPermissions(role: RoleDoc, warn: Warn): void {
  const github = role.github;
  if (!github) return;
  const org = organizationPermissions(github.permissions);
  if (org.length === 0) return;
  const owner = github.repositories[0]?.split('/')[0] ?? 'the organization';
  warn(
    role.position,
    'github-org-permission',
    `role '${role.name}' grants ${org.join(', ')}, which act on all of ${owner}, not only on the ` +
      'repositories it lists (in a directory only a team scope holding all of the owner may grant them; a guardrail on a repository of that owner selects the role)',
  );
}

function pinsWorkflowRef(c: ConditionDoc): boolean {
  if (c.claim !== 'job_workflow_ref') return false;
  return c.patterns.every((p) => {
    const at = p.value.lastIndexOf('@');
    return at > 0 && p.value.startsWith('refs/', at + 1) && !p.value.slice(at).includes('*');
  });
}

function admits(c: ConditionDoc, event: string): boolean {
  return compilePatterns(c.patterns.map((p) => p.value))(event);
}

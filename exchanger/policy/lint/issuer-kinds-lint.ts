/**
 * `jitkey check` warnings for the pitfalls each CI system documents (docs/ci-systems.md): valid
 * rules of a GitLab, Buildkite or CircleCI issuer that probably admit more than meant.
 */
import { CIRCLECI, type IssuerKind } from '../../ci-kinds.js';
import { compilePatterns } from '../model/glob.js';
import type { SourcePosition } from '../model/types.js';
import type { ConditionDoc, RoleDoc, RuleDoc } from '../validate/doc.js';

export type KindLintCode =
  | 'gitlab-unprotected'
  | 'gitlab-path-without-id'
  | 'buildkite-slug-pin'
  | 'circleci-ssh-rerun';

type Warn = (at: SourcePosition, code: KindLintCode, message: string) => void;

const SSH_RERUN = `${CIRCLECI}ssh-rerun`;
const readFor = (rule: RuleDoc, kind: IssuerKind) => rule.kinds?.includes(kind) ?? false;
const named = (rule: RuleDoc, claim: string) => rule.conditions.find((c) => !c.custom && c.claim === claim);
/** The condition admits only `value` (every pattern matches it and nothing else). */
const only = (c: ConditionDoc | undefined, value: string) =>
  c?.patterns.every((p) => p.value === value) ?? false;
const admits = (c: ConditionDoc, value: string) => compilePatterns(c.patterns.map((p) => p.value))(value);

export function lintKinds(role: RoleDoc, privileged: boolean, warn: Warn): void {
  for (const rule of role.allow) {
    const path = `roles.${role.name}.allow[${rule.index}]`;
    if (readFor(rule, 'gitlab')) lintGitlab(role, rule, path, privileged, warn);
    if (readFor(rule, 'buildkite')) lintBuildkite(rule, path, warn);
    if (readFor(rule, 'circleci') && privileged) lintCircleci(role, rule, path, warn);
  }
}

function lintGitlab(role: RoleDoc, rule: RuleDoc, path: string, privileged: boolean, warn: Warn): void {
  for (const [name, id] of [
    ['project_path', 'project_id'],
    ['namespace_path', 'namespace_id'],
  ] as const) {
    const c = named(rule, name);
    if (c && !named(rule, id)) {
      warn(
        c.position,
        'gitlab-path-without-id',
        `${path} names ${name} without ${id}: a renamed or deleted project's or group's path can be ` +
          `taken by another; add ${id} (immutable) as well`,
      );
    }
  }
  if (!privileged) return;
  if (only(named(rule, 'ref_protected'), 'true') || only(named(rule, 'environment_protected'), 'true'))
    return;
  warn(
    rule.position,
    'gitlab-unprotected',
    `role '${role.name}' (privileged) ${path.slice(path.lastIndexOf('.') + 1)} admits GitLab jobs on an ` +
      'unprotected ref or environment: anyone who can push a branch can run such a pipeline; add ' +
      'ref_protected: "true" or environment_protected: "true"',
  );
}

function lintBuildkite(rule: RuleDoc, path: string, warn: Warn): void {
  if (named(rule, 'organization_id')) return;
  const slug = named(rule, 'organization_slug') ?? named(rule, 'pipeline_slug');
  if (!slug) return;
  warn(
    slug.position,
    'buildkite-slug-pin',
    `${path} pins Buildkite by ${slug.claim} without organization_id: a slug can be re-used by another ` +
      'organization once renamed or deleted; add organization_id (the job requests it: ' +
      'buildkite-agent oidc request-token --claim organization_id,pipeline_id)',
  );
}

function lintCircleci(role: RoleDoc, rule: RuleDoc, path: string, warn: Warn): void {
  const ssh = named(rule, SSH_RERUN);
  if (ssh && !admits(ssh, 'true')) return;
  const denied = role.deny.some(
    (d) =>
      d.conditions.length > 0 &&
      d.conditions.every((c) => !c.custom && c.claim === SSH_RERUN && admits(c, 'true')),
  );
  if (denied) return;
  warn(
    rule.position,
    'circleci-ssh-rerun',
    `role '${role.name}' (privileged) ${path.slice(path.lastIndexOf('.') + 1)} admits CircleCI jobs rerun ` +
      `with SSH (${SSH_RERUN} true: a person has a shell in the job); add "${SSH_RERUN}": "false" or a ` +
      'deny rule for "true"',
  );
}

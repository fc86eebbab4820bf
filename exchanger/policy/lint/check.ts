/**
 * `jitkey check`: every load error and lint warning of a policy text, formatted
 * `file:line:col: error|warning: message`. Warnings do not make a policy invalid.
 */
import { type PolicyFileText, validateDirectory } from '../load/directory.js';
import { formatIssue, sortIssues } from '../model/errors.js';
import { selects } from '../validate/org-checks.js';
import { parsePolicyText } from '../validate/parse.js';
import type { ClusterNames } from '../validate/resources.js';
import { validatePolicy } from '../validate/validate.js';
import { lintGuardrailKinds } from './guardrail-kinds-lint.js';
import { lintPolicy } from './lint.js';

export interface CheckResult {
  ok: boolean;
  errors: string[];
  warnings: string[];
}

export function checkPolicy(text: string, file: string): CheckResult {
  const { parsed, issues } = parsePolicyText(text, file);
  if (issues.length > 0) {
    return { ok: false, errors: sortIssues(issues).map((i) => formatIssue(i, 'error')), warnings: [] };
  }
  const { doc, issues: errors } = validatePolicy(parsed);
  return {
    ok: errors.length === 0,
    errors: sortIssues(errors).map((i) => formatIssue(i, 'error')),
    warnings: sortIssues(lintPolicy(doc)).map((w) => formatIssue(w, 'warning')),
  };
}

/** `jitkey check --policy DIR`: every file's errors, then lint with the org's guardrails in view. */
export function checkDirectory(
  dir: string,
  files: readonly PolicyFileText[],
  options: { clusters?: ClusterNames } = {},
): CheckResult {
  const { org, teams, issues } = validateDirectory(dir, files, options);
  const warnings = teams.flatMap((team) => {
    // The guardrails selecting each role, worked out once for both lints.
    const selecting = new Map(
      team.roles.map((role) => [
        role,
        (org?.guardrails ?? []).filter((g) => selects(g.appliesTo, role, team.team, org?.clusters ?? [])),
      ]),
    );
    const out = lintPolicy(team, (role) => (selecting.get(role) ?? []).flatMap((g) => g.deny));
    for (const [role, guardrails] of selecting) {
      lintGuardrailKinds(role, guardrails, org?.issuers ?? [], (at, code, message) =>
        out.push({ file: team.file, line: at.line, col: at.col, code, message }),
      );
    }
    return out;
  });
  return {
    ok: issues.length === 0,
    errors: sortIssues(issues).map((i) => formatIssue(i, 'error')),
    warnings: sortIssues(warnings).map((w) => formatIssue(w, 'warning')),
  };
}

/**
 * A policy directory (`--policy DIR`): `org.yaml` plus one `<team>.yaml` per team, read and
 * checked as one policy. Every file is parsed and validated before anything is compiled, so one
 * bad file refuses the whole directory (and a SIGHUP reload keeps the previous policy).
 *
 *   readPolicyDir(dir) → files   (I/O)
 *   validateDirectory(files) → { org, teams, issues }   (pure)
 *   compileDirectory(org, teams) → Policy   (pure; roles carry their file and guardrails)
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { compileRole, compileRule } from './compile.js';
import type { OrgDoc, TeamDoc } from './doc.js';
import { PolicyError, type PolicyIssue } from './errors.js';
import { checkTeams, selects } from './org-checks.js';
import { parsePolicyText } from './parse.js';
import type { Guardrail, Policy, Role } from './types.js';
import { NAME, validateOrg } from './validate-org.js';
import { validateTeam } from './validate-team.js';

export const ORG_FILE = 'org.yaml';
/** Fixtures for `jitkey test` live next to the policy and are not team files. */
export const FIXTURE_SUFFIX = /\.test\.ya?ml$/;

export interface PolicyFileText {
  /** Path as shown in messages: the directory joined with the file name. */
  file: string;
  name: string;
  text: string;
}

/**
 * The directory's `org.yaml` and team files (`*.yaml` / `*.yml`, not `*.test.yaml`), by name.
 * Symbolic links are followed: a Kubernetes ConfigMap volume presents its files as links into
 * `..data/`, which it swaps atomically on update.
 */
export async function readPolicyDir(dir: string): Promise<PolicyFileText[]> {
  let names: string[];
  try {
    const entries = (await readdir(dir, { withFileTypes: true })).filter(
      (e) => /\.ya?ml$/.test(e.name) && !FIXTURE_SUFFIX.test(e.name) && !e.name.startsWith('.'),
    );
    names = [];
    for (const e of entries) {
      if (e.isFile() || (e.isSymbolicLink() && (await stat(join(dir, e.name))).isFile())) names.push(e.name);
    }
    names.sort();
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new PolicyError([
      { file: dir, line: 1, col: 1, message: `cannot read the policy directory (${reason})` },
    ]);
  }
  const files: PolicyFileText[] = [];
  for (const name of names) {
    const file = join(dir, name);
    files.push({ file, name, text: await readFile(file, 'utf8') });
  }
  return files;
}

export interface ValidatedDirectory {
  org?: OrgDoc;
  teams: TeamDoc[];
  issues: PolicyIssue[];
}

export function validateDirectory(dir: string, files: readonly PolicyFileText[]): ValidatedDirectory {
  const issues: PolicyIssue[] = [];
  const orgText = files.find((f) => f.name === ORG_FILE || f.name === 'org.yml');
  if (!orgText) {
    const message = `no ${ORG_FILE} in the policy directory: it holds the issuers, defaults and guardrails`;
    return { teams: [], issues: [{ file: dir, line: 1, col: 1, message }] };
  }
  const orgParsed = parsePolicyText(orgText.text, orgText.file);
  // Team files are read against org.yaml's defaults and ceilings: without them, stop here.
  if (orgParsed.issues.length > 0) return { teams: [], issues: orgParsed.issues };
  const { org, issues: orgIssues } = validateOrg(orgParsed.parsed);
  issues.push(...orgIssues);
  const teams: TeamDoc[] = [];
  /** Every team file's name, read or not. */
  const present = new Set<string>();
  for (const f of files) {
    if (f === orgText) continue;
    const team = f.name.replace(/\.ya?ml$/, '');
    present.add(team);
    if (!NAME.test(team)) {
      issues.push({
        file: f.file,
        line: 1,
        col: 1,
        message: `'${f.name}': a team file name may hold only letters, digits, '.', '_' and '-'`,
      });
      continue;
    }
    const { parsed, issues: syntax } = parsePolicyText(f.text, f.file);
    issues.push(...syntax);
    if (syntax.length > 0) continue;
    const { doc, issues: teamIssues } = validateTeam(parsed, team, org);
    issues.push(...teamIssues);
    teams.push(doc);
  }
  if (files.length === 1) {
    issues.push({
      file: dir,
      line: 1,
      col: 1,
      message: 'the policy directory has no team files: add <team>.yaml with owners and roles',
    });
  }
  issues.push(...checkTeams(org, teams, present));
  return { org, teams, issues };
}

/** Only for documents `validateDirectory` returned without issues. */
export function compileDirectory(dir: string, org: OrgDoc, teams: readonly TeamDoc[]): Policy {
  const guardrails = org.guardrails.map((g) => ({
    doc: g,
    compiled: {
      name: g.name,
      source: g.file,
      position: g.position,
      deny: g.deny.map(compileRule),
    } satisfies Guardrail,
  }));
  const roles = new Map<string, Role>();
  for (const team of teams) {
    for (const doc of team.roles) {
      const role = compileRole(doc);
      role.source = team.file;
      const selected = guardrails
        .filter((g) => selects(g.doc.appliesTo, doc, team.team))
        .map((g) => g.compiled);
      if (selected.length > 0) role.guardrails = selected;
      roles.set(role.name, role);
    }
  }
  return {
    version: 1,
    issuers: org.issuers,
    defaults: org.defaults,
    admins: org.admins,
    roles,
    source: dir,
  };
}

/** Read, validate and compile a directory; throws `PolicyError` with every problem in every file. */
export async function loadPolicyDir(dir: string): Promise<Policy> {
  const { org, teams, issues } = validateDirectory(dir, await readPolicyDir(dir));
  if (issues.length > 0 || !org) throw new PolicyError(issues);
  return compileDirectory(dir, org, teams);
}

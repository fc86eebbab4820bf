/**
 * A policy directory (`--policy DIR`): `org.yaml` plus one `<team>.yaml` per team, read and
 * checked as one policy. Every file is parsed and validated before anything is compiled, so one
 * bad file refuses the whole directory (and a SIGHUP reload keeps the previous policy).
 *
 *   readPolicyDir(dir) → files   (I/O)
 *   validateDirectory(files) → { org, teams, issues }   (pure)
 *   compileDirectory(org, teams) → Policy   (pure; roles carry their file and guardrails)
 */
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PolicyError, type PolicyIssue } from '../model/errors.js';
import { asciiLower } from '../model/glob.js';
import type { Guardrail, Policy, Role } from '../model/types.js';
import type { OrgDoc, TeamDoc } from '../validate/doc.js';
import { checkTeams, selects } from '../validate/org-checks.js';
import { parsePolicyText } from '../validate/parse.js';
import type { ClusterNames } from '../validate/resources.js';
import { NAME, validateOrg } from '../validate/validate-org.js';
import { validateTeam } from '../validate/validate-team.js';
import { assemblePolicy, compileGuardrailRule, compileRole } from './compile.js';

export const ORG_FILE = 'org.yaml';
/** Fixtures for `jitkey test` live next to the policy and are not team files. */
export const FIXTURE_SUFFIX = /\.test\.ya?ml$/;

export interface PolicyFileText {
  /** Path as shown in messages: the directory joined with the file name. */
  file: string;
  name: string;
  text: string;
  /** Why the entry could not be read (a dangling link, permissions, not a file); `text` is ''. */
  unreadable?: string;
}

/**
 * The directory's `org.yaml` and team files (`*.yaml` / `*.yml`, not `*.test.yaml`), by name.
 * Symbolic links are followed: a Kubernetes ConfigMap volume presents its files as links into
 * `..data/`, which it swaps atomically on update. An entry that cannot be read is kept with the
 * reason, so the load fails naming it rather than running without that team's file.
 */
export async function readPolicyDir(dir: string): Promise<PolicyFileText[]> {
  let entries: Dirent[];
  try {
    entries = (await readdir(dir, { withFileTypes: true })).filter(
      (e) => /\.ya?ml$/.test(e.name) && !FIXTURE_SUFFIX.test(e.name) && !e.name.startsWith('.'),
    );
  } catch (e) {
    throw new PolicyError([
      { file: dir, line: 1, col: 1, message: `cannot read the policy directory (${errorCode(e)})` },
    ]);
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return Promise.all(entries.map((e) => readEntry(dir, e)));
}

async function readEntry(dir: string, e: Dirent): Promise<PolicyFileText> {
  const file = join(dir, e.name);
  const entry = { file, name: e.name, text: '' };
  if (e.isSymbolicLink()) {
    const target = await stat(file).catch((err: unknown) => errorCode(err));
    if (typeof target === 'string') {
      const why = target === 'ENOENT' ? 'a symbolic link to nothing' : `cannot follow the link: ${target}`;
      return { ...entry, unreadable: why };
    }
    if (!target.isFile()) return { ...entry, unreadable: 'a symbolic link to something that is not a file' };
  } else if (!e.isFile()) {
    // A directory or a FIFO named *.yaml: not a team file, and a FIFO would block the read.
    return { ...entry, unreadable: 'not a regular file' };
  }
  try {
    return { ...entry, text: utf8.decode(await readFile(file)) };
  } catch (err) {
    const why = err instanceof TypeError ? 'not UTF-8 text' : `cannot read it: ${errorCode(err)}`;
    return { ...entry, unreadable: why };
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function errorCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

export interface ValidatedDirectory {
  org?: OrgDoc;
  teams: TeamDoc[];
  issues: PolicyIssue[];
}

/**
 * `clusters`: server URLs that name one cluster, which only `jitkey serve` knows (from its
 * Kubernetes credentials); compared as one in team scopes and guardrail selectors.
 */
export function validateDirectory(
  dir: string,
  files: readonly PolicyFileText[],
  options: { clusters?: ClusterNames } = {},
): ValidatedDirectory {
  const issues: PolicyIssue[] = [];
  const named = nameFiles(files, issues);
  const orgText = named.find((f) => f.team === undefined);
  if (!orgText) {
    const message = `no ${ORG_FILE} in the policy directory: it holds the issuers, defaults and guardrails`;
    return { teams: [], issues: [...issues, { file: dir, line: 1, col: 1, message }] };
  }
  // Team files are read against org.yaml's defaults and ceilings: without them, stop here.
  if (orgText.unreadable) return { teams: [], issues };
  const orgParsed = parsePolicyText(orgText.text, orgText.file);
  if (orgParsed.issues.length > 0) return { teams: [], issues: [...issues, ...orgParsed.issues] };
  const { org, issues: orgIssues } = validateOrg(orgParsed.parsed, options.clusters ?? []);
  issues.push(...orgIssues);
  const teams: TeamDoc[] = [];
  /** Every team file's name, read or not. */
  const present = new Set<string>();
  for (const f of named) {
    const { team } = f;
    if (team === undefined) continue;
    present.add(team);
    if (f.unreadable || !NAME.test(team)) continue;
    const { parsed, issues: syntax } = parsePolicyText(f.text, f.file);
    issues.push(...syntax);
    if (syntax.length > 0) continue;
    const { doc, issues: teamIssues } = validateTeam(parsed, team, org);
    issues.push(...teamIssues);
    teams.push(doc);
  }
  if (named.length === 1) {
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

/**
 * The team each file speaks for (undefined: the org file), said once and one way: `org.yml`
 * beside `org.yaml`, `web.yml` beside `web.yaml` or `Web.yaml` beside `web.yaml` would leave which
 * one is in force to the order of a directory listing, so each such pair is a load error (team
 * names are unique case-insensitively, as role names are). Files that cannot be read, or are
 * named outside the team-name alphabet, are errors at `file:1:1`; only the first file of a name is
 * kept, so one team is never read twice.
 */
function nameFiles(
  files: readonly PolicyFileText[],
  issues: PolicyIssue[],
): (PolicyFileText & { team: string | undefined })[] {
  const at = (f: PolicyFileText, message: string) => issues.push({ file: f.file, line: 1, col: 1, message });
  const seen = new Map<string, PolicyFileText>();
  const out: (PolicyFileText & { team: string | undefined })[] = [];
  for (const f of files) {
    const stem = f.name.replace(/\.ya?ml$/, '');
    const key = asciiLower(stem);
    const isOrg = key === 'org';
    if (f.unreadable) at(f, `cannot read '${f.name}': ${f.unreadable}`);
    const first = seen.get(key);
    if (first) {
      const what = isOrg ? `the org file (${ORG_FILE})` : `one team, '${asciiLower(stem)}'`;
      at(f, `'${f.name}' and '${first.name}' both name ${what}: keep one file per team, under one name`);
      continue;
    }
    seen.set(key, f);
    if (isOrg && stem !== 'org') {
      at(f, `'${f.name}' is not read as the org file: name it ${ORG_FILE}`);
      continue;
    }
    if (!isOrg && !NAME.test(stem)) {
      at(f, `'${f.name}': a team file name may hold only letters, digits, '.', '_' and '-'`);
    }
    out.push({ ...f, team: isOrg ? undefined : stem });
  }
  return out;
}

/** Only for documents `validateDirectory` returned without issues. */
export function compileDirectory(dir: string, org: OrgDoc, teams: readonly TeamDoc[]): Policy {
  const guardrails = org.guardrails.map((g) => ({
    doc: g,
    compiled: {
      name: g.name,
      source: g.file,
      position: g.position,
      deny: g.deny.map((rule) => compileGuardrailRule(rule, org.issuers)),
    } satisfies Guardrail,
  }));
  const roles = new Map<string, Role>();
  for (const team of teams) {
    for (const doc of team.roles) {
      const role = compileRole(doc);
      role.source = team.file;
      const selected = guardrails
        .filter((g) => selects(g.doc.appliesTo, doc, team.team, org.clusters))
        .map((g) => g.compiled);
      if (selected.length > 0) role.guardrails = selected;
      roles.set(role.name, role);
    }
  }
  return assemblePolicy(org, roles, dir);
}

/** Read, validate and compile a directory; throws `PolicyError` with every problem in every file. */
export async function loadPolicyDir(dir: string, options: { clusters?: ClusterNames } = {}): Promise<Policy> {
  const { org, teams, issues } = validateDirectory(dir, await readPolicyDir(dir), options);
  if (issues.length > 0 || !org) throw new PolicyError(issues);
  return compileDirectory(dir, org, teams);
}

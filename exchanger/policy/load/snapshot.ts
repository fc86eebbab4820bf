/**
 * The policy as content: the text of its file or of a directory's files, read once, with a
 * digest. A reload reads the path once into a snapshot and every process that puts it in force
 * validates and compiles that same content, so no two can end on different versions of a file
 * that changed in between (issue 24, item 4).
 *
 *   readPolicySnapshot(path) → snapshot        (I/O)
 *   validateSnapshot(snapshot) → validated      (pure; throws PolicyError)
 *   piecesOf(validated) → pieces of a few hundred roles, compilePiece(head, piece) → roles
 *                                               (pure; a caller can yield between pieces)
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { PolicyError } from '../model/errors.js';
import type { Policy, Role } from '../model/types.js';
import type { OrgDoc, PolicyDoc, RoleDoc, TeamDoc } from '../validate/doc.js';
import { parsePolicyText } from '../validate/parse.js';
import type { ClusterNames } from '../validate/resources.js';
import { validatePolicy } from '../validate/validate.js';
import { compilePolicy } from './compile.js';
import { compileDirectory, type PolicyFileText, readPolicyDir, validateDirectory } from './directory.js';

export interface PolicySnapshot {
  /** `--policy` as given: a file, or a directory of org.yaml and team files. */
  path: string;
  kind: 'file' | 'dir';
  /** A directory's files by name, or the one file. */
  files: PolicyFileText[];
  /** `policyDigest(kind, files)`. */
  digest: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Reads the path once; an unreadable path or entry is a `PolicyError` naming it. */
export async function readPolicySnapshot(path: string): Promise<PolicySnapshot> {
  let bytes: Buffer | undefined;
  try {
    if (!(await stat(path)).isDirectory()) bytes = await readFile(path);
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new PolicyError([
      { file: path, line: 1, col: 1, message: `cannot read the policy file (${reason})` },
    ]);
  }
  if (bytes === undefined) {
    const files = await readPolicyDir(path);
    return { path, kind: 'dir', files, digest: policyDigest('dir', files) };
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new PolicyError([{ file: path, line: 1, col: 1, message: 'the policy file is not UTF-8 text' }]);
  }
  const files = [{ file: path, name: path, text }];
  return { path, kind: 'file', files, digest: policyDigest('file', files) };
}

/**
 * SHA-256 of what is in force, in hex. A file: of its bytes (`sha256sum policy.yaml`). A
 * directory: of `sha256sum`'s listing of its team and org files in name order, so
 * `cd policy && sha256sum $(ls org.yaml …) | sha256sum` gives it.
 */
export function policyDigest(kind: 'file' | 'dir', files: readonly PolicyFileText[]): string {
  const sha = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
  if (kind === 'file') return sha(files[0]?.text ?? '');
  return sha(files.map((f) => `${sha(f.text)}  ${f.name}\n`).join(''));
}

export type ValidatedPolicy =
  | { kind: 'file'; doc: PolicyDoc }
  | { kind: 'dir'; dir: string; org: OrgDoc; teams: TeamDoc[] };

/** Parses and validates the snapshot's content; throws `PolicyError` with every problem. */
export function validateSnapshot(
  snapshot: PolicySnapshot,
  options: { clusters?: ClusterNames } = {},
): ValidatedPolicy {
  if (snapshot.kind === 'dir') {
    const { org, teams, issues } = validateDirectory(snapshot.path, snapshot.files, options);
    if (issues.length > 0 || !org) throw new PolicyError(issues);
    return { kind: 'dir', dir: snapshot.path, org, teams };
  }
  const file = snapshot.files[0];
  if (!file) throw new Error('internal: a file snapshot without its file');
  const { parsed, issues } = parsePolicyText(file.text, file.file);
  if (issues.length > 0) throw new PolicyError(issues);
  const validated = validatePolicy(parsed);
  if (validated.issues.length > 0) throw new PolicyError(validated.issues);
  return { kind: 'file', doc: validated.doc };
}

export function roleCount(v: ValidatedPolicy): number {
  return v.kind === 'file' ? v.doc.roles.length : v.teams.reduce((n, t) => n + t.roles.length, 0);
}

/** A few hundred roles of a validated policy: of the single file, or of one team file. */
export type PolicyPiece = { roles: RoleDoc[] } | { team: TeamDoc };

/** What every piece compiles against: the policy without its roles. */
export function headOf(v: ValidatedPolicy): ValidatedPolicy {
  return v.kind === 'file' ? { kind: 'file', doc: { ...v.doc, roles: [] } } : { ...v, teams: [] };
}

export function* piecesOf(v: ValidatedPolicy, size: number): Generator<PolicyPiece> {
  if (v.kind === 'file') {
    for (let i = 0; i < v.doc.roles.length; i += size) yield { roles: v.doc.roles.slice(i, i + size) };
    return;
  }
  for (const team of v.teams) {
    for (let i = 0; i < team.roles.length; i += size)
      yield { team: { ...team, roles: team.roles.slice(i, i + size) } };
  }
}

/** The policy without its roles: `compilePiece` compiles them. */
export function compileHead(head: ValidatedPolicy): Policy {
  return head.kind === 'file'
    ? compilePolicy({ ...head.doc, roles: [] })
    : compileDirectory(head.dir, head.org, []);
}

export function compilePiece(head: ValidatedPolicy, piece: PolicyPiece): Iterable<Role> {
  if ('roles' in piece) {
    if (head.kind !== 'file') throw new Error('internal: a file piece for a directory');
    return compilePolicy({ ...head.doc, roles: piece.roles }).roles.values();
  }
  if (head.kind !== 'dir') throw new Error('internal: a team piece for a single file');
  return compileDirectory(head.dir, head.org, [piece.team]).roles.values();
}

/** All at once, for callers with no requests to serve meanwhile. */
export function compileValidated(v: ValidatedPolicy): Policy {
  const head = headOf(v);
  const roles = new Map<string, Role>();
  for (const piece of piecesOf(v, Number.POSITIVE_INFINITY)) {
    for (const role of compilePiece(head, piece)) roles.set(role.name, role);
  }
  return { ...compileHead(head), roles };
}

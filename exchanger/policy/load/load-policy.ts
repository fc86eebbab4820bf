/**
 * The whole pipeline for one path: parse → validate → compile a file, or a directory (org.yaml +
 * team files, `directory.ts`). Throws a `PolicyError` listing every problem found.
 */
import { readFile, stat } from 'node:fs/promises';
import { PolicyError } from '../model/errors.js';
import type { Policy } from '../model/types.js';
import { parsePolicyText } from '../validate/parse.js';
import type { ClusterNames } from '../validate/resources.js';
import { validatePolicy } from '../validate/validate.js';
import { compilePolicy } from './compile.js';
import { loadPolicyDir } from './directory.js';

/** Parse, validate and compile; throws `PolicyError` with every problem found. */
export function loadPolicy(text: string, file: string): Policy {
  const { parsed, issues } = parsePolicyText(text, file);
  if (issues.length > 0) throw new PolicyError(issues);
  const validated = validatePolicy(parsed);
  if (validated.issues.length > 0) throw new PolicyError(validated.issues);
  return compilePolicy(validated.doc);
}

/**
 * `loadPolicy` on a file, or `loadPolicyDir` on a directory (org.yaml + team files); an
 * unreadable path is a `PolicyError` too. `clusters`: as `jitkey serve` is given them.
 */
export async function loadPolicyFile(
  path: string,
  options: { clusters?: ClusterNames } = {},
): Promise<Policy> {
  let text: string | undefined;
  try {
    if (!(await stat(path)).isDirectory()) text = await readFile(path, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new PolicyError([
      { file: path, line: 1, col: 1, message: `cannot read the policy file (${reason})` },
    ]);
  }
  if (text === undefined) return loadPolicyDir(path, options);
  return loadPolicy(text, path);
}

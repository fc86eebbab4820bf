/**
 * `jitkey check --policy FILE|DIR`: errors with file:line:col, lint warnings; exit 0 valid,
 * 1 invalid. A directory is checked as one policy (org.yaml and every team file).
 */
import { readFile, stat } from 'node:fs/promises';
import { checkDirectory, checkPolicy } from '../policy/lint/check.js';
import { readPolicyDir } from '../policy/load/directory.js';
import { clusterNamesForTools } from '../providers/kubernetes-config.js';
import { parse, required } from './args.js';

const USAGE = 'jitkey check --policy FILE|DIR';

export async function check(argv: string[]): Promise<number> {
  const { values } = parse(argv, { policy: { type: 'string' } }, USAGE);
  const file = required(values.policy, '--policy', USAGE);
  const result = (await stat(file)).isDirectory()
    ? checkDirectory(file, await readPolicyDir(file), { clusters: clusterNamesForTools(process.env) })
    : checkPolicy(await readFile(file, 'utf8'), file);
  for (const line of [...result.errors, ...result.warnings]) process.stdout.write(`${line}\n`);
  const summary = `${file}: ${result.errors.length} error(s), ${result.warnings.length} warning(s)`;
  process.stdout.write(`${result.ok ? `${summary} — valid` : `${summary} — invalid`}\n`);
  return result.ok ? 0 : 1;
}

/** `jitkey check --policy FILE`: errors with file:line:col, lint warnings; exit 0 valid, 1 invalid. */
import { readFile } from 'node:fs/promises';
import { checkPolicy } from '../policy/check.js';
import { parse, required } from './args.js';

const USAGE = 'jitkey check --policy FILE';

export async function check(argv: string[]): Promise<number> {
  const { values } = parse(argv, { policy: { type: 'string' } }, USAGE);
  const file = required(values.policy, '--policy', USAGE);
  const text = await readFile(file, 'utf8');
  const result = checkPolicy(text, file);
  for (const line of [...result.errors, ...result.warnings]) process.stdout.write(`${line}\n`);
  const summary = `${file}: ${result.errors.length} error(s), ${result.warnings.length} warning(s)`;
  process.stdout.write(`${result.ok ? `${summary} — valid` : `${summary} — invalid`}\n`);
  return result.ok ? 0 : 1;
}

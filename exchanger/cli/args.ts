/** Command-line parsing shared by the subcommands: strict, with errors that say what to change. */
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

type Spec = Record<string, { type: 'string' | 'boolean'; default?: string | boolean; multiple?: boolean }>;

export function parse<S extends Spec>(argv: string[], spec: S, usage: string) {
  try {
    return parseArgs({ args: argv, options: spec, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message.replace(/\. To specify.*$/s, '')}\n\nusage: ${usage}`);
  }
}

export function required(value: string | boolean | undefined, flag: string, usage: string): string {
  if (typeof value !== 'string' || value === '')
    throw new UsageError(`${flag} is required\n\nusage: ${usage}`);
  return value;
}

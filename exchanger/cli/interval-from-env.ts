/**
 * A background pass's interval from the environment: unset takes `fallbackMs`, `0` turns the pass
 * off, anything else is a duration (`duration.ts`); bad text stops the start, saying what to write.
 */
import { parseDuration } from '../duration.js';

export function intervalMsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
  fallbackMs: number,
  says: { examples: string; off: string },
): number {
  const text = env[name]?.trim();
  if (!text) return fallbackMs;
  if (text === '0') return 0;
  try {
    return parseDuration(text) * 1000;
  } catch {
    throw new Error(
      `${name} must be a duration such as ${says.examples} (0 turns ${says.off} off), got '${text}'`,
    );
  }
}

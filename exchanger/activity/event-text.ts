/**
 * An upstream event's text field as jitkey keeps it: a non-empty string, control characters
 * replaced (`text/clean.ts`) and cut to 200 characters; anything else is not kept.
 */
import { clean, truncate } from '../text/clean.js';

export function eventText(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? truncate(clean(value), 200) : undefined;
}

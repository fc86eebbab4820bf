/**
 * Durations as people write them in policies, CLI flags and Action inputs:
 * `90` or `90s` (seconds), `15m`, `1h`, `1h30m`, `2d`. Returns whole seconds.
 * Shared by the exchanger and the Action so both read `15m` the same way.
 */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const PART = /(\d+)([smhd])/y;

export function parseDuration(text: string): number {
  const value = String(text).trim();
  if (/^\d+$/.test(value)) return checked(Number(value), text);
  let total = 0;
  let at = 0;
  PART.lastIndex = 0;
  while (at < value.length) {
    PART.lastIndex = at;
    const m = PART.exec(value);
    if (!m) throw new RangeError(durationHelp(text));
    total += Number(m[1]) * (UNIT_SECONDS[m[2]!] ?? 0);
    at = PART.lastIndex;
  }
  if (value.length === 0) throw new RangeError(durationHelp(text));
  return checked(total, text);
}

function checked(seconds: number, text: string): number {
  if (!Number.isSafeInteger(seconds) || seconds <= 0) throw new RangeError(durationHelp(text));
  return seconds;
}

function durationHelp(text: string): string {
  return `invalid duration '${text}': write a positive whole number of seconds or units like 15m, 1h, 1h30m, 2d`;
}

/** `900` → `15m`, `5400` → `1h30m`: for messages that quote a duration back to a person. */
export function formatDuration(seconds: number): string {
  if (seconds % 60 !== 0 || seconds < 60) return `${seconds}s`;
  const h = Math.floor(seconds / 3600);
  const m = (seconds % 3600) / 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}` || '0s';
}

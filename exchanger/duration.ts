/**
 * Durations as people write them in policies, CLI flags and Action inputs:
 * `90` or `90s` (seconds), `15m`, `1h`, `1h30m`, `2d`. Returns whole seconds.
 * Shared by the exchanger and the Action so both read `15m` the same way. The exchanger's three
 * ways of writing a duration back (exact, rough, time left) are below, over one `split`.
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

type Unit = 'd' | 'h' | 'm' | 's';

/** Whole `seconds` (≥ 0) as counts of `units`, largest first; the last unit keeps the rest. */
function split(seconds: number, units: readonly Unit[]): [number, Unit][] {
  let rest = seconds;
  return units.map((u, i) => {
    const n = i === units.length - 1 ? rest / UNIT_SECONDS[u]! : Math.floor(rest / UNIT_SECONDS[u]!);
    rest -= n * UNIT_SECONDS[u]!;
    return [n, u];
  });
}

/** The non-zero parts, as `1h30m`. */
function compact(parts: readonly [number, Unit][]): string {
  return parts
    .filter(([n]) => n > 0)
    .map(([n, u]) => `${n}${u}`)
    .join('');
}

/**
 * `900` → `15m`, `5400` → `1h30m`, `90` → `90s`: exact, as `parseDuration` reads it back; for
 * messages that quote a policy's or a request's duration to a person.
 */
export function formatDuration(seconds: number): string {
  if (seconds % 60 !== 0 || seconds < 60) return `${seconds}s`;
  return compact(split(seconds, ['h', 'm'])) || '0s';
}

/**
 * `95` → `1m35s`, `7200` → `2h`, `90000` → `1d1h`: the largest unit and the next, rounded down
 * (never negative); for table columns such as a request's age.
 */
export function formatRoughly(seconds: number): string {
  const parts = split(Math.max(0, Math.floor(seconds)), ['d', 'h', 'm', 's']);
  const first = parts.findIndex(([n]) => n > 0);
  return first < 0 ? '0s' : compact(parts.slice(first, first + 2));
}

/** Time left, in words, rounded up to the minute: `29 min`, `1 h 5 min`; `expired` when none is. */
export function formatTimeLeft(ms: number): string {
  if (!(ms > 0)) return 'expired';
  return split(Math.ceil(ms / 60_000) * 60, ['h', 'm'])
    .filter(([n]) => n > 0)
    .map(([n, u]) => `${n} ${u === 'h' ? 'h' : 'min'}`)
    .join(' ');
}

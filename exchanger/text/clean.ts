/**
 * Values shown to people come from tokens, approvers and upstreams and may hold anything: control
 * characters are replaced so a crafted value cannot drive a terminal or split a log line.
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) reorder what a terminal
 * shows: `main\u202Enoisserpmi` can read as another value. They are shown escaped, as `\u202e`,
 * the way `policy/evaluate/evaluate.ts` quotes a claim, so the reader sees they are there.
 */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Each control character (C0, DEL, C1, U+2028, U+2029) becomes a space; bidi controls are escaped. */
export function clean(text: string): string {
  return text
    .replace(CONTROL, ' ')
    .replace(BIDI, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A line a CI runner reads for workflow commands (a step's stdout and stderr): `clean`, and the
 * runner's older `##[command]` form, which it finds anywhere in a line, broken up (`## [`). A
 * value from elsewhere (an exchanger's request id) then cannot give the runner a command, such as
 * `##[stop-commands]` before the lines that mask the secrets.
 */
export function cleanLogLine(text: string): string {
  return breakLegacyCommands(clean(text));
}

/** `##[` anywhere, as the runner's legacy command form, broken up; newlines kept. */
export function breakLegacyCommands(text: string): string {
  return text.replaceAll('##[', '## [');
}

/** At most `max` characters; a cut text ends in `…`. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

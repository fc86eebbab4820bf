/**
 * Values shown to people come from tokens, approvers and upstreams and may hold anything: control
 * characters are replaced so a crafted value cannot drive a terminal or split a log line.
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** Each control character (C0, DEL, C1, U+2028, U+2029) becomes a space. */
export function clean(text: string): string {
  return text.replace(CONTROL, ' ');
}

/** At most `max` characters; a cut text ends in `…`. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

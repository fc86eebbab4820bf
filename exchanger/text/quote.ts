/**
 * A value from a token, a request body or an upstream, ready for a message: single-quoted, cut to
 * a readable length, and escaped so it cannot forge a second log line or reorder what a terminal
 * shows. One rule for every message: the policy's denials and the token's refusals read alike.
 */

const MAX_QUOTED = 120;

/**
 * Control characters, quotes, backslashes, line separators and bidi controls are escaped: a
 * claim value must not be able to forge a second log line or reorder what a terminal shows.
 */
function unsafe(c: number): boolean {
  return (
    c < 0x20 ||
    (c >= 0x7f && c <= 0x9f) ||
    c === 0x27 ||
    c === 0x5c ||
    c === 0x2028 ||
    c === 0x2029 ||
    (c >= 0x202a && c <= 0x202e) ||
    (c >= 0x2066 && c <= 0x2069)
  );
}

/** A string is shown as `'text'`; anything else (an `aud` array, a numeric `kid`) as its JSON. */
export function quote(value: unknown, max = MAX_QUOTED): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  let out = '';
  for (let i = 0; i < cut.length; i++) {
    const c = cut.charCodeAt(i);
    if (!unsafe(c)) out += cut[i];
    else if (c === 0x27 || c === 0x5c) out += `\\${cut[i]}`;
    else out += `\\u${c.toString(16).padStart(4, '0')}`;
  }
  return typeof value === 'string' ? `'${out}'` : out;
}

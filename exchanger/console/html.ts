/**
 * HTML built from templates whose every value is escaped unless it is already `Html`. A value from
 * a token, a policy, a reason or GitHub can hold markup (a branch named `<img src=x onerror=…>`),
 * quotes (a workflow name) or invisible controls that reorder or hide text (bidi overrides,
 * zero-width characters): markup and quotes are escaped, controls are shown as `\uXXXX`.
 */

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** Markup this module's callers wrote themselves, never a value from outside. */
export const trusted = (text: string): Html => new Html(text);

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * C0 and C1 controls, DEL, line and paragraph separators, bidi controls (U+061C, U+200E, U+200F,
 * U+202A–U+202E, U+2066–U+2069), zero-width characters and the BOM.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** Text as HTML: markup and quotes escaped, invisible controls shown as a marked `\uXXXX`. */
export function escapeHtml(text: string): string {
  return text
    .replace(/[&<>"']/g, (c) => ENTITIES[c]!)
    .replace(
      INVISIBLE,
      (c) =>
        `<span class="ctl" title="invisible character">\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}</span>`,
    );
}

/** For attribute values (an href): markup and quotes escaped, invisible controls dropped. */
export function escapeAttribute(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!).replace(INVISIBLE, '');
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

function render(value: Value): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** `html\`<p>${value}</p>\``: every interpolated value escaped, `Html` values kept as they are. */
export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** An `href` value: only http(s) URLs, escaped for the attribute; anything else is no link. */
export function href(url: string): Html | undefined {
  if (!/^(https?:\/\/|\/)/.test(url) || url.startsWith('//')) return undefined;
  return new Html(escapeAttribute(url));
}

/** Small formatting shared by the console's views: times, time left, durations. */
import { formatDuration, formatTimeLeft } from '../duration.js';
import { type Html, html } from './html.js';

/** `2026-12-06 21:52 UTC`, in a `<time>` element machines can read. */
export function when(iso: string | Date): Html {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  if (Number.isNaN(d.getTime())) return html`${String(iso)}`;
  const text = `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return html`<time datetime="${d.toISOString()}">${text}</time>`;
}

/** Time until `iso` from `now`, to the minute: `29 min`, `1 h 5 min`, or `expired`. */
export function timeLeft(iso: string, now: Date): string {
  return formatTimeLeft(new Date(iso).getTime() - now.getTime());
}

export function duration(seconds: number | undefined): string {
  return seconds === undefined ? "the role's default" : formatDuration(seconds);
}

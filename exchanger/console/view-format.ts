/** Small formatting shared by the console's views: times, time left, durations. */
import { formatDuration } from '../duration.js';
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
  const ms = new Date(iso).getTime() - now.getTime();
  if (!(ms > 0)) return 'expired';
  const minutes = Math.ceil(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h${minutes % 60 ? ` ${minutes % 60} min` : ''}`;
}

export function duration(seconds: number | undefined): string {
  return seconds === undefined ? "the role's default" : formatDuration(seconds);
}

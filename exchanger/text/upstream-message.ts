/**
 * An upstream's error message as one short line of printable ASCII (every other character a
 * space, cut at `max`), as GitHub's and Google's messages are quoted in errors and activity
 * reasons: plain enough for any log or terminal, and nothing an upstream says can run long.
 */
export function upstreamMessage(text: string, max = 200): string {
  return text.replace(/[^\x20-\x7e]/g, ' ').slice(0, max);
}

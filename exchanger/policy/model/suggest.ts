/** "Did you mean …?" for unknown keys, permission names and claim templates. */

/** Levenshtein distance, two rows. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let cur = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length]!;
}

/** The closest candidate (case-insensitive; first wins a tie), and its distance. */
export function nearest(
  word: string,
  candidates: Iterable<string>,
): { name: string; distance: number } | undefined {
  let best: { name: string; distance: number } | undefined;
  const w = word.toLowerCase();
  for (const name of candidates) {
    const distance = editDistance(w, name.toLowerCase());
    if (!best || distance < best.distance) best = { name, distance };
  }
  return best;
}

/** Close enough to be a likely typo: a third of the word, and at least 2 edits. */
export function isClose(word: string, distance: number): boolean {
  return distance <= Math.max(2, Math.ceil(word.length / 3));
}

/** `; did you mean 'x'?` when something is close, else the empty string. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const list = [...candidates];
  const best = nearest(word, list);
  if (best && isClose(word, best.distance)) return `; did you mean '${best.name}'?`;
  // `role` for `role_arn`, `service` for `service_account`: a known key that starts with the word.
  const w = word.toLowerCase();
  const prefixed = w.length >= 3 ? list.find((c) => c.toLowerCase().startsWith(w)) : undefined;
  return prefixed ? `; did you mean '${prefixed}'?` : '';
}

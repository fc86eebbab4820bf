/**
 * Work queued by key, run one at a time per key: each waits for the one before it with that key,
 * not for others'. For a read-then-write that must not interleave in this process (a deployment
 * gate's answer, a role's daily on-call count). Another process is not held back.
 */
export type OneAtATime = <T>(key: string, work: () => Promise<T>) => Promise<T>;

export function oneAtATime(): OneAtATime {
  /** The last work queued per key; removed by that work when nothing came after it. */
  const tails = new Map<string, Promise<unknown>>();
  return async (key, work) => {
    const before = tails.get(key) ?? Promise.resolve();
    const mine = before.then(work, work);
    // A failure is its caller's: the next in line runs all the same.
    const tail = mine.catch(() => {});
    tails.set(key, tail);
    try {
      return await mine;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

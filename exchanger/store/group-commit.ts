/**
 * Group commit for a synchronous database (better-sqlite3).
 *
 * Every write submitted during one turn of the event loop is applied, in submission order,
 * inside ONE transaction, run from `setImmediate` — that is, after the poll phase has handed
 * over every request whose bytes arrived in this turn (`queueMicrotask` would flush after each
 * I/O callback and batch almost nothing). One commit then pays for many writes.
 *
 * Each caller's promise settles only after that transaction has committed, so a response is
 * never sent for a write that is not yet durable. If the transaction fails, it is rolled back
 * whole and every caller of the batch gets the error: none of their writes happened.
 *
 * Ops run one after another inside the transaction, so an op sees the writes of the ops before
 * it (two `consumeJti` calls with one jti in one batch: the first wins).
 */
export interface GroupCommit {
  submit<T>(op: () => T): Promise<T>;
  /** Applies whatever is queued now, synchronously (used by `close`). */
  flush(): void;
}

interface Pending {
  op: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export function groupCommit(
  /** Runs `work` in one transaction; throws (after rolling back) if anything in it failed. */
  transaction: (work: () => void) => void,
  /** Turns the failure into what each caller receives. */
  failure: (cause: unknown) => Error,
  options: { enabled?: boolean } = {},
): GroupCommit {
  let queue: Pending[] = [];
  let scheduled = false;

  const flush = (): void => {
    scheduled = false;
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    const results: unknown[] = [];
    try {
      transaction(() => {
        for (const pending of batch) results.push(pending.op());
      });
    } catch (cause) {
      for (const pending of batch) pending.reject(failure(cause));
      return;
    }
    for (const [i, pending] of batch.entries()) pending.resolve(results[i]);
  };

  if (options.enabled === false) {
    // One transaction per write: the baseline group commit is measured against.
    return {
      submit<T>(op: () => T): Promise<T> {
        let result: T | undefined;
        try {
          transaction(() => {
            result = op();
          });
        } catch (cause) {
          return Promise.reject(failure(cause));
        }
        return Promise.resolve(result as T);
      },
      flush() {},
    };
  }

  return {
    submit<T>(op: () => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ op, resolve: resolve as (value: unknown) => void, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    flush,
  };
}

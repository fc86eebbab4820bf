/**
 * Group commit for PostgreSQL: the writes of one kind submitted during one turn of the event loop
 * go to the database together, as ONE statement (the caller's `run`, which unnests arrays), so
 * one round trip, one commit and one backend wake-up serve them all.
 *
 * At most `maxInFlight` statements of a kind are out at once; writes submitted meanwhile wait and
 * go together in the next one, so the busier the exchanger, the larger and fewer the statements
 * (at low load a write goes alone, one `setImmediate` after it was submitted). At most
 * `maxQueued` wait: while the database holds the statements in flight (a lock, an outage until
 * the timeouts), more are refused at once (`full`) rather than queued without bound, each
 * holding its caller's request ever longer.
 *
 * Each caller's promise settles when its statement has committed. A statement that fails fails
 * every write in it (none of them happened), as a transaction of SQLite's group commit does,
 * unless `isolate` blames one of its rows (a value PostgreSQL refuses): then its halves go again,
 * one after the other, until that row's caller alone fails. So a value one caller sent fails no
 * one else's write, as when each write was a statement of its own.
 */
export interface Batcher<I, O> {
  submit(item: I): Promise<O>;
  /** Sends what is waiting now and settles once every write submitted so far has (for `close`). */
  drain(): Promise<void>;
}

interface Pending<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

export function batcher<I, O>(
  /** One statement for `items`; answers one result per item, in their order. */
  run: (items: I[]) => Promise<O[]>,
  options: {
    maxInFlight: number;
    maxBatch: number;
    maxQueued: number;
    /** What a write refused because `maxQueued` are waiting fails with. */
    full: () => Error;
    /** Whether the failure came from a row's values, not the database or the connection. */
    isolate?: (error: unknown) => boolean;
  },
): Batcher<I, O> {
  let queue: Pending<I, O>[] = [];
  let scheduled = false;
  let inFlight = 0;
  const sending = new Set<Promise<void>>();

  const schedule = () => {
    if (scheduled || queue.length === 0 || inFlight >= options.maxInFlight) return;
    scheduled = true;
    setImmediate(flush);
  };

  // In order, the earlier half first: a jti sent twice is still spent by its first caller.
  const settle = async (batch: Pending<I, O>[]): Promise<void> => {
    try {
      const results = await run(batch.map((p) => p.item));
      for (const [i, pending] of batch.entries()) pending.resolve(results[i] as O);
    } catch (err) {
      if (batch.length > 1 && options.isolate?.(err)) {
        const half = Math.ceil(batch.length / 2);
        await settle(batch.slice(0, half));
        await settle(batch.slice(half));
        return;
      }
      for (const pending of batch) pending.reject(err);
    }
  };

  const send = async (batch: Pending<I, O>[]) => {
    inFlight++;
    try {
      await settle(batch);
    } finally {
      inFlight--;
      schedule();
    }
  };

  function flush(): void {
    scheduled = false;
    while (queue.length > 0 && inFlight < options.maxInFlight) {
      let batch = queue;
      if (batch.length > options.maxBatch) {
        batch = queue.slice(0, options.maxBatch);
        queue = queue.slice(options.maxBatch);
      } else {
        queue = [];
      }
      const sent = send(batch);
      sending.add(sent);
      void sent.finally(() => sending.delete(sent));
    }
  }

  return {
    async drain() {
      while (queue.length > 0 || sending.size > 0) {
        flush();
        await Promise.all(sending);
      }
    },
    submit(item: I): Promise<O> {
      if (queue.length >= options.maxQueued) return Promise.reject(options.full());
      return new Promise<O>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        schedule();
      });
    },
  };
}

/** `unnest($first::type[], …) AS alias(columns…)` for columns of the given SQL types. */
export function unnestArrays(
  columns: readonly { name: string; type: string }[],
  first: number,
  alias: string,
  ordinality = false,
): string {
  const arrays = columns.map((c, i) => `$${first + i}::${c.type}[]`).join(', ');
  const names = [...columns.map((c) => c.name), ...(ordinality ? ['n'] : [])].join(', ');
  return `unnest(${arrays})${ordinality ? ' WITH ORDINALITY' : ''} AS ${alias}(${names})`;
}

/** Rows of positional values → one array per column, for `unnestArrays`. */
export function columnArrays(rows: readonly (readonly unknown[])[], width: number): unknown[][] {
  const columns = Array.from({ length: width }, () => new Array<unknown>(rows.length));
  for (const [r, row] of rows.entries()) {
    for (let c = 0; c < width; c++) columns[c]![r] = row[c] ?? null;
  }
  return columns;
}

/**
 * Where exported events go. A sink takes one batch at a time and resolves only once it holds
 * it (a file: written and flushed to disk; an HTTPS endpoint: a 2xx answer): the exporter moves
 * its cursor after that, never before.
 */

/** One exported event: its JSON text (no newline) and its time (for envelopes that want one). */
export interface SinkEvent {
  line: string;
  time: Date;
}

/** The events as JSON lines, each ending in a newline (files, stdout, an `ndjson` HTTPS body). */
export const jsonLines = (events: readonly SinkEvent[]) => events.map((e) => `${e.line}\n`).join('');

export interface Sink {
  /** What it is, for logs and messages: never a header value or a query string. */
  readonly name: string;
  /**
   * Before the first batch, with the state saved with the cursor: a file sink removes what it
   * wrote after that state (a batch written whose cursor move was lost in a crash).
   */
  resume(state: string | undefined): Promise<void>;
  /**
   * Resolves with the state to save with the cursor once the sink holds the batch; `signal`
   * abandons a request in flight (the process is stopping: the batch is sent again next time).
   */
  send(events: readonly SinkEvent[], signal?: AbortSignal): Promise<string | undefined>;
  close(): Promise<void>;
}

/**
 * Why a batch was not taken. `retryAfterMs`: the sink said when to try again (`Retry-After`);
 * `permanent`: trying the same batch again will not help (a refused credential, a redirect).
 */
export class SinkError extends Error {
  override name = 'SinkError';
  readonly permanent: boolean;
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    options: { permanent?: boolean; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.permanent = options.permanent ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * One error base for the whole exchanger. Every failure a client can see carries a stable
 * `code` (reference.md §3, HTTP API) and the HTTP status it maps to; the mapping lives here and only here.
 */
export const ERROR_STATUS = {
  invalid_request: 400,
  invalid_token: 401,
  token_replayed: 401,
  access_denied: 403,
  self_approval: 403,
  /** The token's run attempt has ended (`workflow_run completed` webhook). */
  run_completed: 403,
  not_found: 404,
  request_timeout: 408,
  not_approved: 409,
  already_redeemed: 409,
  rate_limited: 429,
  internal_error: 500,
  upstream_error: 502,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class JitkeyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds, for 429/503 answers that tell the client when to come back. */
  readonly retryAfter?: number;
  /** Detail for operators' logs only: never sent to the client. */
  readonly detail?: string;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; retryAfter?: number; detail?: string } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'JitkeyError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    if (options.retryAfter !== undefined) this.retryAfter = options.retryAfter;
    if (options.detail !== undefined) this.detail = options.detail;
  }
}

export const invalidRequest = (message: string, cause?: unknown) =>
  new JitkeyError('invalid_request', message, { cause });
export const invalidToken = (message: string, cause?: unknown) =>
  new JitkeyError('invalid_token', message, { cause });
export const unavailable = (message: string, cause?: unknown) =>
  new JitkeyError('unavailable', message, { cause, retryAfter: 1 });

export function isJitkeyError(e: unknown): e is JitkeyError {
  return e instanceof JitkeyError;
}

/**
 * One error type for everything that fails the step. `code` says what kind of failure it is;
 * the message is what the workflow author reads, so it says what to change.
 */
export type ActionErrorCode =
  | 'invalid_input'
  | 'oidc_unavailable'
  | 'oidc_failed'
  | 'unreachable'
  | 'exchanger_error'
  | 'bad_response'
  | 'redirected'
  | 'approval_denied'
  | 'approval_expired'
  | 'approval_timeout';

export class ActionError extends Error {
  readonly code: ActionErrorCode;

  constructor(code: ActionErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ActionError';
    this.code = code;
  }
}

/** The exchanger answered with an error body `{error, message, request_id}` (docs/reference.md section 3). */
export class ExchangerError extends ActionError {
  readonly status: number;
  /** The API's error code (`access_denied`, `invalid_token`…), or `http_<status>` without a JSON body. */
  readonly apiCode: string;
  readonly apiMessage: string;
  readonly requestId: string | undefined;

  constructor(what: string, status: number, body: { error?: string; message?: string; request_id?: string }) {
    const apiCode = body.error ?? `http_${status}`;
    const apiMessage = body.message ?? '';
    super(
      'exchanger_error',
      `${what} failed: ${status} ${apiCode}${apiMessage ? `: ${apiMessage}` : ''}${requestIdNote(body.request_id)}`,
    );
    this.name = 'ExchangerError';
    this.status = status;
    this.apiCode = apiCode;
    this.apiMessage = apiMessage;
    this.requestId = body.request_id;
  }
}

export const requestIdNote = (id: string | undefined) => (id ? ` (request_id ${id})` : '');

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

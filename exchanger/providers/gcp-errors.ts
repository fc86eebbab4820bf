/**
 * IAM Credentials failures, as the REST transport reports them (a GaxiosError carrying the HTTP
 * status and Google's JSON error body), a gRPC-style GoogleError (numeric code), or a network
 * error; mapped to one shape, a retry decision and a JitkeyError that names the status.
 */
import { JitkeyError } from '../errors.js';

export interface GcpFailure {
  /** The canonical status name: PERMISSION_DENIED, UNAVAILABLE, … */
  status: string;
  http?: number;
  /** Google's own message, for operators' logs. */
  message?: string;
  /** Set when no answer came: ECONNREFUSED, timeout, … */
  network?: string;
}

export type UpstreamOutcome = 'ok' | 'refused' | 'throttled' | 'error';

/** google.rpc.Code names by number (also an audit entry's failed `status`: `activity/gcp-logging.ts`). */
export const GRPC_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

/** https://cloud.google.com/apis/design/errors#handling_errors */
const GRPC_HTTP: Record<string, number> = {
  CANCELLED: 499,
  UNKNOWN: 500,
  INVALID_ARGUMENT: 400,
  DEADLINE_EXCEEDED: 504,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  PERMISSION_DENIED: 403,
  RESOURCE_EXHAUSTED: 429,
  FAILED_PRECONDITION: 400,
  ABORTED: 409,
  OUT_OF_RANGE: 400,
  UNIMPLEMENTED: 501,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  DATA_LOSS: 500,
  UNAUTHENTICATED: 401,
};

const HTTP_GRPC: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

const RETRYABLE_STATUS = new Set(['UNAVAILABLE', 'RESOURCE_EXHAUSTED']);
const RETRYABLE_HTTP = new Set([429, 502, 503, 504]);

type ErrorShape = { status?: unknown; code?: unknown; message?: unknown; name?: unknown; response?: unknown };

function googleErrorBody(e: ErrorShape): { status?: string; message?: string } {
  const data = (e.response as { data?: unknown } | undefined)?.data;
  let body: unknown = typeof data === 'object' && data !== null ? data : undefined;
  if (!body && typeof e.message === 'string' && e.message.startsWith('{')) {
    try {
      body = JSON.parse(e.message);
    } catch {
      body = undefined;
    }
  }
  const error = (body as { error?: { status?: unknown; message?: unknown } } | undefined)?.error;
  return {
    ...(typeof error?.status === 'string' ? { status: error.status } : {}),
    ...(typeof error?.message === 'string' ? { message: error.message.slice(0, 300) } : {}),
  };
}

export function gcpFailure(err: unknown): GcpFailure {
  const e = (typeof err === 'object' && err !== null ? err : {}) as ErrorShape;
  if (typeof e.status === 'number' && e.response) {
    const body = googleErrorBody(e);
    return {
      status: body.status ?? HTTP_GRPC[e.status] ?? 'UNKNOWN',
      http: e.status,
      ...(body.message ? { message: body.message } : {}),
    };
  }
  if (typeof e.code === 'number' && GRPC_NAMES[e.code]) {
    const status = GRPC_NAMES[e.code]!;
    return {
      status,
      ...(GRPC_HTTP[status] ? { http: GRPC_HTTP[status] } : {}),
      ...(typeof e.message === 'string' ? { message: e.message.slice(0, 300) } : {}),
    };
  }
  const timedOut =
    e.name === 'AbortError' ||
    e.name === 'TimeoutError' ||
    (typeof e.message === 'string' && /abort/i.test(e.message));
  return {
    status: 'UNAVAILABLE',
    network: timedOut ? 'timeout' : typeof e.code === 'string' ? e.code : 'network error',
    ...(typeof e.message === 'string' ? { message: e.message.slice(0, 300) } : {}),
  };
}

export function isRetryable(err: unknown): boolean {
  if (err instanceof JitkeyError) return false;
  const f = gcpFailure(err);
  return (
    f.network !== undefined ||
    RETRYABLE_STATUS.has(f.status) ||
    (f.http !== undefined && RETRYABLE_HTTP.has(f.http))
  );
}

export function outcomeOf(err: unknown): UpstreamOutcome {
  const f = gcpFailure(err);
  if (f.status === 'RESOURCE_EXHAUSTED' || f.http === 429) return 'throttled';
  if (f.http !== undefined && f.http >= 400 && f.http < 500) return 'refused';
  return 'error';
}

/** `PERMISSION_DENIED (403)` or `UNAVAILABLE (ECONNREFUSED)`. */
export function failureName(f: GcpFailure): string {
  return `${f.status} (${f.network ?? f.http ?? 'no HTTP status'})`;
}

export interface FailureContext {
  role: string;
  serviceAccount: string;
  delegates: readonly string[];
  lifetimeSeconds: number;
  attempts: number;
}

function hint(f: GcpFailure, ctx: FailureContext): string {
  switch (f.status) {
    case 'PERMISSION_DENIED':
      return ctx.delegates.length
        ? `grant roles/iam.serviceAccountTokenCreator along the delegation chain: the exchanger's identity on ${ctx.delegates[0]}, each delegate on the next, the last on ${ctx.serviceAccount}`
        : `grant roles/iam.serviceAccountTokenCreator on ${ctx.serviceAccount} to the exchanger's identity, and check that the service account exists`;
    case 'NOT_FOUND':
      return `check that the service account ${ctx.serviceAccount} exists`;
    case 'UNAUTHENTICATED':
      return "the exchanger's own Google credentials (Application Default Credentials) were not accepted";
    case 'INVALID_ARGUMENT':
    case 'FAILED_PRECONDITION':
      return ctx.lifetimeSeconds > 3600
        ? 'lifetimes over 1h also need the organization policy constraints/iam.allowServiceAccountCredentialLifetimeExtension to list the service account'
        : "check the role's scopes and delegates";
    case 'UNAVAILABLE':
    case 'RESOURCE_EXHAUSTED':
    case 'DEADLINE_EXCEEDED':
      return `gave up after ${ctx.attempts} ${ctx.attempts === 1 ? 'try' : 'tries'}`;
    default:
      return '';
  }
}

export function toJitkeyError(err: unknown, ctx: FailureContext): JitkeyError {
  if (err instanceof JitkeyError) return err;
  const f = gcpFailure(err);
  const why = hint(f, ctx);
  const summary = `GCP IAM Credentials generateAccessToken for ${ctx.serviceAccount} (role '${ctx.role}') failed: ${failureName(f)}`;
  return new JitkeyError('upstream_error', why ? `${summary}; ${why}` : summary, {
    // Not the GaxiosError itself: it holds the request, bearer included.
    cause: new Error(summary),
    ...(f.message ? { detail: f.message } : {}),
  });
}

/**
 * What an SDK failure means for the exchanger: retry it, or turn it into the client's
 * `upstream_error`. The client's message names STS's error code and a hint, never STS's own
 * message (kept in `detail` for operators' logs) and never a secret.
 */
import { JitkeyError } from '../errors.js';

/** Per upstream call, for the latency histogram. */
export type UpstreamOutcome = 'ok' | 'refused' | 'throttled' | 'error';

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
]);
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  /** The wire error code of a Query-protocol error (`PackedPolicyTooLarge`, where `name` says `…Exception`). */
  Code?: unknown;
  Error?: { Code?: unknown };
  message?: unknown;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

const shape = (err: unknown): SdkErrorShape => (typeof err === 'object' && err !== null ? err : {});
const status = (err: unknown): number | undefined => shape(err).$metadata?.httpStatusCode;

/** STS's error code, or the Node error code for a network failure; limited to a safe alphabet. */
export function errorCode(err: unknown): string {
  const s = shape(err);
  const raw =
    status(err) === undefined
      ? typeof s.code === 'string'
        ? s.code
        : s.name
      : (s.Error?.Code ?? s.Code ?? s.name);
  return typeof raw === 'string' && /^[\w.:-]{1,80}$/.test(raw) ? raw : 'UnknownError';
}

const isThrottling = (err: unknown) =>
  status(err) === 429 || THROTTLING.has(errorCode(err)) || THROTTLING.has(String(shape(err).name));

export function outcomeOf(err: unknown): UpstreamOutcome {
  const st = status(err);
  if (isThrottling(err)) return 'throttled';
  if (st !== undefined && st >= 400 && st < 500) return 'refused';
  return 'error';
}

/** Throttling, 5xx and network failures: worth another try. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof JitkeyError) return false;
  const s = shape(err);
  const st = status(err);
  if (isThrottling(err)) return true;
  if (st !== undefined) return st >= 500;
  if (typeof s.code === 'string' && NETWORK_CODES.has(s.code)) return true;
  return s.name === 'TimeoutError';
}

const OWN_CREDENTIALS =
  "the exchanger's own AWS credentials are not valid for STS: check its credential chain (and its clock)";

function hint(code: string, message: string, region: string | undefined): string | undefined {
  switch (code.replace(/Exception$/, '')) {
    case 'AccessDenied':
      return "check the role's trust policy allows the exchanger's principal sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity";
    case 'MalformedPolicyDocument':
      return "the role's session_policy is not a valid IAM policy document";
    case 'PackedPolicyTooLarge':
      return "the role's session_policy and session_tags together are too large for STS: shorten them";
    case 'RegionDisabled':
      return `STS is not activated in ${region ?? 'this region'} for the exchanger's account (IAM → Account settings), or set the role's region`;
    case 'ExpiredToken':
      return "the exchanger's own AWS credentials have expired";
    case 'InvalidClientTokenId':
    case 'SignatureDoesNotMatch':
    case 'IncompleteSignature':
    case 'MissingAuthenticationToken':
    case 'UnrecognizedClient':
      return OWN_CREDENTIALS;
    case 'ValidationError':
      return /MaxSessionDuration/i.test(message)
        ? "the duration exceeds the role's MaxSessionDuration in IAM (1h by default; 1h at most when the exchanger itself runs on an assumed role)"
        : 'STS refused a parameter: check the role_arn and session_tags';
    default:
      return undefined;
  }
}

export function toJitkeyError(
  err: unknown,
  context: { role: string; region: string | undefined; attempts: number },
): JitkeyError {
  if (err instanceof JitkeyError) return err;
  const s = shape(err);
  const code = errorCode(err);
  const st = status(err);
  const upstreamMessage = typeof s.message === 'string' ? s.message : '';
  const requestId = s.$metadata?.requestId;
  const detail = [upstreamMessage, requestId ? `sts request id ${requestId}` : ''].filter(Boolean).join('; ');
  const tries = context.attempts > 1 ? ` after ${context.attempts} attempts` : '';
  const role = `role '${context.role}'`;
  let message: string;
  if (outcomeOf(err) === 'throttled') {
    message = `AWS STS throttled AssumeRole for ${role} (${code})${tries}`;
  } else if (st !== undefined && st >= 500) {
    message = `AWS STS failed AssumeRole for ${role}: HTTP ${st} (${code})${tries}`;
  } else if (st !== undefined) {
    const h = hint(code, upstreamMessage, context.region);
    message = `AWS STS refused AssumeRole for ${role}: ${code}${h ? ` — ${h}` : ''}`;
  } else if (isRetryable(err)) {
    message = `could not reach AWS STS for ${role}: ${code}${tries}`;
  } else if (s.name === 'CredentialsProviderError') {
    message = `AssumeRole for ${role} not attempted: the exchanger has no usable AWS credentials (SDK default credential chain)`;
  } else if (/region is missing/i.test(upstreamMessage)) {
    message = `AssumeRole for ${role} not attempted: no AWS region (set AWS_REGION or the role's aws.region)`;
  } else {
    message = `AWS STS AssumeRole for ${role} failed: ${code}`;
  }
  return new JitkeyError('upstream_error', message, { cause: err, ...(detail ? { detail } : {}) });
}

/**
 * GitHub API failures as `upstream_error`, naming the HTTP status and GitHub's own message (which
 * carries no secrets: "The permissions requested are not granted to this installation."). Octokit's
 * error objects are not passed on as `cause`: they hold the request, and a summary is all a log needs.
 */
import { STATUS_CODES } from 'node:http';
import { JitkeyError } from '../errors.js';
import { upstreamMessage } from '../text/upstream-message.js';

/** The HTTP status GitHub answered, or `undefined` when no answer came (network error, timeout). */
export function githubStatus(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null || !('response' in e) || !e.response) return undefined;
  const status = (e as { status?: unknown }).status;
  return typeof status === 'number' ? status : undefined;
}

function githubMessage(e: unknown): string | undefined {
  const data = (e as { response?: { data?: unknown } }).response?.data;
  const message =
    typeof data === 'object' && data !== null ? (data as { message?: unknown }).message : undefined;
  if (typeof message !== 'string' || !message) return undefined;
  return upstreamMessage(message);
}

/** `HTTP 422 Unprocessable Entity: <GitHub's message>` or `no answer (fetch failed: ECONNREFUSED)`. */
export function describeGithubError(e: unknown): string {
  const status = githubStatus(e);
  if (status === undefined) {
    const err = e as {
      message?: unknown;
      cause?: { code?: unknown; message?: unknown; cause?: { code?: unknown } };
    };
    const code = err.cause?.code ?? err.cause?.cause?.code ?? err.cause?.message;
    const why = [
      typeof err.message === 'string' ? err.message : 'request failed',
      code ? String(code) : undefined,
    ]
      .filter(Boolean)
      .join(': ');
    return `no answer (${why})`;
  }
  const message = githubMessage(e);
  return `HTTP ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd() + (message ? `: ${message}` : '');
}

export function upstream(action: string, e: unknown, hint?: string): JitkeyError {
  if (e instanceof JitkeyError) return e;
  const summary = `${action}: GitHub API ${describeGithubError(e)}`;
  return new JitkeyError('upstream_error', hint ? `${summary} (${hint})` : summary, {
    cause: new Error(summary),
  });
}

/** For calls made with the App JWT. */
export function appJwtHint(e: unknown): string | undefined {
  return githubStatus(e) === 401
    ? "GitHub rejected the App's JWT: check JITKEY_GITHUB_APP_ID, the App's private key and the exchanger's clock"
    : undefined;
}

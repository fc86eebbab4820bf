/**
 * `node dist/agent/index.js exec-credential`: the command of the kubeconfig's exec user
 * (`refresh: true` on a Kubernetes role). kubectl and client-node run it with the kubeconfig's exec
 * `env` entries, JITKEY_AGENT_URL and JITKEY_AGENT_TOKEN (the 0600 file in RUNNER_TEMP holds them,
 * never a command line); it asks the agent for the current token and prints the ExecCredential.
 * On any failure it prints nothing on stdout (so the client uses no stale token) and one line on
 * stderr saying why, then exits 1.
 */

import { ActionError } from '../shared/errors.js';
import { AGENT_TOKEN_VAR, AGENT_URL_VAR, EXEC_CREDENTIAL_API_VERSION } from '../shared/kubeconfig.js';
import { networkReason } from '../transport/call.js';
import { createTransport } from '../transport/http.js';
import { EXEC_CREDENTIAL_PATH } from './kinds.js';

const TIMEOUT_MS = 10_000;

export interface ExecResult {
  code: 0 | 1;
  stdout: string;
  stderr: string;
}

/** The agent's answer; `error` when it could not be reached, `refused` when its answer was. */
type Answer = { status: number; body: string } | { error: string } | { refused: string };

const fail = (message: string): ExecResult => ({ code: 1, stdout: '', stderr: `jitkey: ${message}\n` });

/** Turns the agent's answer (or the failure to reach it) into what the plugin prints. */
export function execCredentialResult(origin: string, answer: Answer): ExecResult {
  if ('refused' in answer) return fail(answer.refused);
  if ('error' in answer) {
    return fail(
      `the credentials agent at ${origin} did not answer (${answer.error}); it runs only between this job's jitkey step and its post step, which stops it and revokes the lease`,
    );
  }
  let body: { message?: unknown; apiVersion?: unknown; kind?: unknown; status?: { token?: unknown } };
  try {
    body = JSON.parse(answer.body);
  } catch {
    body = {};
  }
  if (answer.status !== 200) {
    const why = typeof body.message === 'string' ? `: ${body.message}` : '';
    return fail(`the credentials agent at ${origin} answered ${answer.status}${why}`);
  }
  if (
    body.apiVersion !== EXEC_CREDENTIAL_API_VERSION ||
    body.kind !== 'ExecCredential' ||
    typeof body.status?.token !== 'string'
  ) {
    return fail(
      `the credentials agent at ${origin} did not answer an ExecCredential (is it a Kubernetes lease's agent?)`,
    );
  }
  return { code: 0, stdout: `${JSON.stringify(body)}\n`, stderr: '' };
}

/** One request through the Action's transport: its timeout, its size limit, no proxy (loopback). */
async function ask(url: URL, bearer: string): Promise<Answer> {
  const transport = createTransport({});
  try {
    const { status, body } = await transport.send({
      method: 'GET',
      url,
      headers: { authorization: `Bearer ${bearer}` },
      signal: AbortSignal.timeout(TIMEOUT_MS),
      label: `the credentials agent at ${url.origin}`,
    });
    return { status, body };
  } catch (e) {
    if (e instanceof ActionError) return { refused: e.message };
    return { error: networkReason(e) };
  } finally {
    transport.close();
  }
}

export async function runExecCredential(
  env: Readonly<Record<string, string | undefined>>,
): Promise<ExecResult> {
  const origin = env[AGENT_URL_VAR];
  const bearer = env[AGENT_TOKEN_VAR];
  if (!origin || !bearer) {
    return fail(
      `${AGENT_URL_VAR} and ${AGENT_TOKEN_VAR} are not set: this command is meant to be run by kubectl from the kubeconfig the jitkey Action wrote (its exec env entries)`,
    );
  }
  let url: URL;
  try {
    url = new URL(EXEC_CREDENTIAL_PATH, origin);
  } catch {
    return fail(`${AGENT_URL_VAR} is not a URL`);
  }
  if (url.protocol !== 'http:' || url.hostname !== '127.0.0.1') {
    // The bearer goes only to the loopback agent, never elsewhere.
    return fail(`${AGENT_URL_VAR} must be the agent's http://127.0.0.1:<port> origin`);
  }
  return execCredentialResult(origin, await ask(url, bearer));
}

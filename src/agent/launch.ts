/**
 * The steps' side of the credentials agent (`refresh: true`, docs/reference.md section 5).
 *
 * - `launchAgent`: a detached `node dist/agent/index.js` in RUNNER_TEMP (never the workspace), with
 *   its configuration (runner token-request URL and token, first lease, bearer) written to its
 *   stdin, so nothing secret sits on a command line, in an environment block or in a file. Its
 *   environment holds RUNNER_TRACKING_ID (the runner ends, after the job, every process whose
 *   environment carries the job's id) and NODE_EXTRA_CA_CERTS, made absolute, alone. It answers one line with its port; then the main step lets
 *   it go.
 * - `stopAgent` (post step): `POST /v1/agent/shutdown`, after which the agent revokes every lease it
 *   obtained and exits; if it cannot be reached, SIGTERM to its pid does the same.
 *
 * node:child_process and node:crypto load only here, when a step starts an agent: every other
 * step pays nothing for them.
 */
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Deps } from '../client/deps.js';
import type { Core } from '../shared/core.js';
import { ActionError } from '../shared/errors.js';
import { attempt, networkReason } from '../transport/call.js';
import type { HttpResponse } from '../transport/http.js';
import type { AgentConfig } from './config.js';

export interface AgentHandle {
  pid: number;
  origin: string;
  bearer: string;
}

const START_TIMEOUT_MS = 15_000;

/**
 * dist/agent/index.js beside this bundle (dist/main). Built from parts so that ncc does not take
 * the path for an import and bundle a copy of the agent into dist/main.
 */
export function bundledAgentPath(): string {
  const parts = ['..', 'agent', 'index.js'];
  return join(dirname(fileURLToPath(import.meta.url)), ...parts);
}

/** A new bearer token, masked before anything else sees it. */
export async function newAgentToken(core: Pick<Core, 'setSecret'>): Promise<string> {
  const { randomBytes } = await import('node:crypto');
  const token = randomBytes(32).toString('base64url');
  core.setSecret(token);
  return token;
}

export async function launchAgent(
  deps: Pick<Deps, 'env'>,
  config: AgentConfig,
  agentPath = bundledAgentPath(),
  node = process.execPath,
): Promise<AgentHandle> {
  const tracking = deps.env.RUNNER_TRACKING_ID;
  // Node reads a private CA's file only from its environment at start (docs/action-network.md):
  // without it every renewal through a TLS-inspecting proxy, or to an internal certificate, fails.
  // Absolute: the agent runs in RUNNER_TEMP, not in the step's directory.
  const ca = deps.env.NODE_EXTRA_CA_CERTS ? resolve(deps.env.NODE_EXTRA_CA_CERTS) : undefined;
  const { spawn } = await import('node:child_process');
  const child = spawn(node, [agentPath], {
    cwd: deps.env.RUNNER_TEMP || tmpdir(),
    env: {
      ...(tracking ? { RUNNER_TRACKING_ID: tracking } : {}),
      ...(ca ? { NODE_EXTRA_CA_CERTS: ca } : {}),
    },
    detached: true,
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  child.stdin.end(JSON.stringify(config));
  const line = await new Promise<string>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('it did not answer within 15 s')), START_TIMEOUT_MS);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('\n')) {
        clearTimeout(timer);
        resolve(text.slice(0, text.indexOf('\n')));
      }
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`it exited with code ${code}`));
    });
  }).catch((e: Error) => {
    child.kill();
    throw new ActionError('bad_response', `The credentials agent did not start: ${e.message}`);
  });
  child.stdout.destroy();
  child.removeAllListeners('exit');
  child.unref();
  const ready = JSON.parse(line) as { port?: unknown; error?: unknown };
  if (typeof ready.port !== 'number' || child.pid === undefined) {
    throw new ActionError(
      'bad_response',
      `The credentials agent did not start: ${String(ready.error ?? line)}`,
    );
  }
  return { pid: child.pid, origin: `http://127.0.0.1:${ready.port}`, bearer: config.bearer };
}

export interface AgentReport {
  renewals: number;
  revoked: string[];
  failed: string[];
  stopped?: string;
  /** Why the last renewal failed, when it did (a TLS or network error says what to fix). */
  lastError?: string;
}

/** Asks the agent to stop and revoke its leases; SIGTERM to `pid` when it does not answer. */
export async function stopAgent(
  deps: Pick<Deps, 'send'>,
  agent: { origin: string; bearer: string; pid: number },
): Promise<AgentReport> {
  let response: HttpResponse;
  try {
    response = await attempt(
      deps.send,
      { label: `the credentials agent at ${agent.origin}`, timeoutMs: 30_000 },
      () => ({
        method: 'POST',
        url: new URL('/v1/agent/shutdown', agent.origin),
        headers: { authorization: `Bearer ${agent.bearer}` },
      }),
    );
  } catch (e) {
    terminate(agent.pid);
    throw new ActionError(
      'unreachable',
      `the credentials agent did not answer (${e instanceof ActionError ? e.message : networkReason(e)}); it was killed or had already stopped`,
    );
  }
  if (response.status < 200 || response.status > 299) {
    terminate(agent.pid);
    throw new ActionError('bad_response', `the credentials agent answered ${response.status} to shutdown`);
  }
  let body: Partial<AgentReport>;
  try {
    body = JSON.parse(response.body) as Partial<AgentReport>;
  } catch {
    throw new ActionError(
      'bad_response',
      'the credentials agent answered shutdown with something other than JSON',
    );
  }
  return {
    renewals: typeof body.renewals === 'number' ? body.renewals : 0,
    revoked: Array.isArray(body.revoked) ? body.revoked.map(String) : [],
    failed: Array.isArray(body.failed) ? body.failed.map(String) : [],
    ...(typeof body.stopped === 'string' ? { stopped: body.stopped } : {}),
    ...(typeof body.lastError === 'string' ? { lastError: body.lastError } : {}),
  };
}

function terminate(pid: number): void {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // Already gone.
  }
}

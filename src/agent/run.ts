/**
 * The agent process: config from stdin, then a server on 127.0.0.1 (random port) whose port is the
 * one line it ever writes to stdout. It then lives until the post step shuts it down (or SIGTERM,
 * which does the same), or until its job is over without a post step (`lifetime.ts`): its last
 * lease ended with renewing stopped for good, or the runner process gone. Each of these revokes
 * the leases the agent obtained before it exits.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Deps } from '../client/deps.js';
import type { Core } from '../shared/core.js';
import { createTransport } from '../transport/http.js';
import { type AgentConfig, parseAgentConfig } from './config.js';
import { KINDS } from './kinds.js';
import { watchRunner } from './lifetime.js';
import { type PeerCheck, peerCheck } from './peer.js';
import { startRenewer } from './renewer.js';
import { createAgentServer } from './server.js';

/** The agent has no log: what happened is in `/v1/agent/status`, which the post step prints. */
const silentCore: Core = {
  getInput: () => '',
  getState: () => '',
  setSecret: () => {},
  setOutput: () => {},
  exportVariable: () => {},
  saveState: () => {},
  debug: () => {},
  info: () => {},
  warning: () => {},
  error: () => {},
  setFailed: () => {},
  appendSummary: () => false,
};

export interface AgentIo {
  stdin: NodeJS.ReadableStream;
  /** Receives the ready line `{"port":N}` and nothing else. */
  ready: (line: string) => void;
  exit: (code: number) => void;
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

/** How often the agent looks for the runner process that started it. */
export const RUNNER_POLL_MS = 2_000;

/** The job's user, and root, which can read this process's memory anyway. */
const ownUserCheck = () => peerCheck([process.getuid?.() ?? -1, 0]);

export async function startAgent(
  config: AgentConfig,
  io: Pick<AgentIo, 'exit'>,
  findPeerCheck: () => Promise<PeerCheck | undefined> = ownUserCheck,
): Promise<Server> {
  const kind = KINDS[config.lease.provider];
  if (!kind) throw new Error(`jitkey agent: no credential endpoint for provider '${config.lease.provider}'`);
  const peer = await findPeerCheck();
  if (!peer && !kind.bearer) {
    // GCP's clients send no token: without the kernel's word on who connects, any local user could
    // take the job's token. The AWS and Kubernetes endpoints still need their bearer token.
    throw new Error(
      `jitkey agent: the ${config.lease.provider} endpoint takes no token, so it is served only where the agent can tell which user connects (Linux, /proc/net/tcp); on this runner use refresh: false`,
    );
  }
  const deps: Deps = {
    core: silentCore,
    send: createTransport(config.proxyEnv ?? {}).send,
    env: {},
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: () => Math.random(),
  };
  let ending = false;
  /** Revokes what the agent obtained, then exits: the job is over without a shutdown request. */
  const end = () => {
    if (ending) return;
    ending = true;
    runner.stop();
    server.close();
    void renewer.stop().finally(() => io.exit(0));
  };
  const renewer = startRenewer(
    config,
    deps,
    {
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
    },
    end,
  );
  const runner = watchRunner(config.runnerPid, end, { intervalMs: RUNNER_POLL_MS });
  const server = createAgentServer({
    bearer: config.bearer,
    kind,
    renewer,
    now: () => Date.now(),
    onShutdown: () => {
      runner.stop();
      server.close(() => io.exit(0));
    },
    ...(peer ? { peer } : {}),
  });
  process.once('SIGTERM', end);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return server;
}

export async function runAgent(io: AgentIo): Promise<void> {
  const config = parseAgentConfig(await readAll(io.stdin));
  const server = await startAgent(config, io);
  io.ready(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
}

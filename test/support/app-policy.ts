/**
 * What the in-process HTTP tests share: a one-role policy (a github role for acme/web, id 123456),
 * the collaborators they never vary, and a loopback listener.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '../../exchanger/log.js';
import { evaluate } from '../../exchanger/policy/evaluate/evaluate.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import { createMetrics } from '../../exchanger/server/metrics.js';

export const ONE_GITHUB_ROLE = loadPolicy(
  `version: 1
issuers: [{ url: "https://token.actions.githubusercontent.com", audience: jitkey }]
roles:
  deploy:
    provider: github
    github: { repositories: [acme/web], permissions: { contents: read } }
    allow: [{ repository_id: "123456" }]
`,
  'policy.yaml',
);

export const fixedDeps = () => ({
  evaluate,
  guards: [],
  metrics: createMetrics(),
  log: silentLogger,
  now: () => new Date(),
});

/** Listens on a random loopback port; `close` also ends held connections. */
export async function listen(server: Server): Promise<{ port: number; url: string; close(): Promise<void> }> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/**
 * The real app on a loopback port with in-process fakes, for the HTTP and per-client limit tests:
 * a store that accepts everything, a verifier that accepts every token, a mint that answers at once.
 */
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';
import { type AppDeps, createServer } from '../../exchanger/server/app.js';
import type { Store } from '../../exchanger/store/types.js';
import { fixedDeps, ONE_GITHUB_ROLE } from './app-policy.js';

export const inertStore = {
  kind: 'sqlite',
  consumeJti: async () => true,
  spendToken: async () => ({ fresh: true, run: { completed: false } }),
  record: async () => {},
  recordGrant: async () => ({ completed: false }),
  getLease: async () => undefined,
  markRevoked: async () => {},
  queryAudit: async () => [],
  purgeExpired: async () => 0,
  ping: async () => {},
  close: async () => {},
} as unknown as Store;

export type Cleanup = () => Promise<void> | void;

/** Registers an afterEach that runs the pushed cleanups, last first; returns the list to push to. */
export function useCleanup(): Cleanup[] {
  const cleanup: Cleanup[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  return cleanup;
}

/** The `jitkey_connections_closed_total` lines of the app's `/metrics`: what its connection cap closed. */
export async function capClosedLines(port: number): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text.match(/^jitkey_connections_closed_total\{.*$/gm) ?? [];
}

/** Serves the app on 127.0.0.1 (deps override the fakes); closed by a cleanup pushed to `cleanup`. */
export async function serveLimitsApp(
  cleanup: Cleanup[],
  deps: Partial<AppDeps> = {},
  options: { backlog?: number } = {},
): Promise<{ port: number; url: string }> {
  const server = createServer({
    policy: () => ONE_GITHUB_ROLE,
    verifier: () => ({
      verify: async () => ({
        claims: { repository: 'acme/web', repository_id: '123456', run_id: '1' },
        jti: `jti-${Math.random()}`,
        issuer: 'https://token.actions.githubusercontent.com',
        expiresAt: new Date(Date.now() + 300_000),
      }),
    }),
    store: inertStore,
    providers: {
      github: {
        name: 'github',
        mint: async () => ({
          credentials: { token: 'ghs_minted', permissions: {}, repositories: [] },
          expiresAt: new Date(Date.now() + 3_600_000),
        }),
      },
    },
    ...fixedDeps(),
    ...deps,
  });
  await new Promise<void>((r) => server.listen({ port: 0, host: '127.0.0.1', backlog: options.backlog }, r));
  const { port } = server.address() as AddressInfo;
  cleanup.push(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(() => r()));
  });
  return { port, url: `http://127.0.0.1:${port}` };
}

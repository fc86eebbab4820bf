/**
 * The exchanger's own Kubernetes credentials: `JITKEY_KUBECONFIG` when set, else the in-cluster
 * service account (what client-go's `BuildConfigFromFlags` does: an explicit kubeconfig wins).
 *
 * A role names the server jobs reach (`kubernetes.server`). With a kubeconfig, the context whose
 * cluster `server` equals the role's is used, and a role whose server no context names is an error
 * naming the contexts there are: falling back to the current context would mint in whatever cluster
 * that is, for a role (and a team's scope) that names another. In-cluster, the exchanger reaches its
 * own cluster by the service address, which jobs outside it do not use: a role's server is that
 * cluster only when it is the service address, `https://kubernetes.default.svc`, or one listed in
 * `JITKEY_IN_CLUSTER_SERVERS` (the addresses jobs reach this cluster by). Any other is an error, for
 * the same reason.
 *
 * Supported kubeconfig users: `token`, `tokenFile`, client certificates (`…-data` or file). `exec`
 * and `auth-provider` plugins are refused at start with a message: they run programs, and the
 * exchanger's identity should be a plain service-account token or certificate.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { JitkeyError } from '../errors.js';
import { parseServiceUrl } from '../net/service-url.js';
import { serverUrl } from '../policy/validate/validate-kubernetes.js';
import type { KubeConnection } from './kubernetes-api.js';

type Env = Readonly<Record<string, string | undefined>>;

export const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** In-cluster tokens are rotated by the kubelet; re-read them this often. */
const TOKEN_REREAD_MS = 60_000;

export interface KubeCredentials {
  /** The connection to use for a role's server; JitkeyError `upstream_error` when there is none. */
  connectionFor(server: string): KubeConnection;
  readonly source: string;
}

/** Undefined when neither JITKEY_KUBECONFIG nor an in-cluster service account is there. */
export function kubeCredentialsFromEnv(
  env: Env,
  options: { inClusterDir?: string; now?: () => number } = {},
): KubeCredentials | undefined {
  const path = env.JITKEY_KUBECONFIG?.trim();
  if (path) return readKubeconfig(path, options.now);
  const dir = options.inClusterDir ?? IN_CLUSTER_DIR;
  const inCluster = inClusterServer(env, dir);
  if (!inCluster) return undefined;
  const { server, names } = inCluster;
  const conn: KubeConnection = {
    server,
    ca: readFileSync(`${dir}/ca.crt`, 'utf8'),
    token: rereading(`${dir}/token`, options.now),
    source: 'the in-cluster service account',
  };
  return {
    source: conn.source,
    connectionFor: (role) => {
      if (names.has(role)) return conn;
      throw new JitkeyError(
        'upstream_error',
        `the exchanger has only in-cluster credentials, and the Kubernetes API server ${role} is not ` +
          "named as its cluster: add it to the exchanger's JITKEY_IN_CLUSTER_SERVERS if jobs reach this " +
          "cluster by that address, or fix the role's kubernetes.server",
        { detail: `${conn.source}: this cluster is ${[...names].join(', ')}` },
      );
    },
  };
}

/**
 * In-cluster, the service address and every name a role may give for the exchanger's own cluster
 * (`https://kubernetes.default.svc`, `JITKEY_IN_CLUSTER_SERVERS`); undefined out of a cluster, or
 * with `JITKEY_KUBECONFIG`, whose contexts each name their own server.
 */
function inClusterServer(env: Env, dir: string): { server: string; names: Set<string> } | undefined {
  if (env.JITKEY_KUBECONFIG?.trim()) return undefined;
  const host = env.KUBERNETES_SERVICE_HOST?.trim();
  // Every pod has KUBERNETES_SERVICE_HOST; only one with a mounted service account has credentials
  // (our own deployment sets automountServiceAccountToken: false).
  if (!host || !existsSync(`${dir}/token`)) return undefined;
  const port = env.KUBERNETES_SERVICE_PORT?.trim() || '443';
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const names = new Set([serverUrl(new URL(server)), 'https://kubernetes.default.svc']);
  for (const text of (env.JITKEY_IN_CLUSTER_SERVERS ?? '').split(',')) {
    if (text.trim()) names.add(serverUrl(parseServiceUrl(text.trim(), 'JITKEY_IN_CLUSTER_SERVERS')));
  }
  return { server, names };
}

/**
 * Server URLs that name one cluster, for the policy loader (`ClusterNames`): in-cluster, every
 * name of the exchanger's own cluster. A team scope or guardrail that names one of them holds the
 * others too, so a team cannot reach another's namespace there by writing another address.
 */
export function clusterNamesFromEnv(env: Env, options: { inClusterDir?: string } = {}): string[][] {
  const inCluster = inClusterServer(env, options.inClusterDir ?? IN_CLUSTER_DIR);
  return inCluster && inCluster.names.size > 1 ? [[...inCluster.names]] : [];
}

/**
 * The names for `jitkey check`, `explain` and `test`: only where `JITKEY_IN_CLUSTER_SERVERS` is
 * set, the exchanger's own variable. A CI runner in a cluster (Actions Runner Controller) has an
 * in-cluster service account too, of its own cluster, whose addresses say nothing of jitkey's.
 */
export function clusterNamesForTools(env: Env, options: { inClusterDir?: string } = {}): string[][] {
  return env.JITKEY_IN_CLUSTER_SERVERS?.trim() ? clusterNamesFromEnv(env, options) : [];
}

interface Named<T> {
  name?: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}

export function readKubeconfig(path: string, now?: () => number): KubeCredentials {
  const where = `JITKEY_KUBECONFIG (${path})`;
  let doc: Record<string, unknown>;
  try {
    doc = (parse(readFileSync(path, 'utf8')) ?? {}) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${where}: cannot read it as a kubeconfig: ${(err as Error).message}`);
  }
  const base = dirname(resolve(path));
  const list = <T>(key: string) => (Array.isArray(doc[key]) ? (doc[key] as Named<T>[]) : []);
  const clusters = new Map(
    list<Record<string, unknown>>('clusters').map((c) => [String(c.name), c.cluster ?? {}]),
  );
  const users = new Map(list<Record<string, unknown>>('users').map((u) => [String(u.name), u.user ?? {}]));
  const contexts = list<Record<string, unknown>>('contexts');
  if (contexts.length === 0) throw new Error(`${where}: it has no contexts`);

  const file = (value: unknown) =>
    typeof value === 'string' ? readFileSync(resolve(base, value), 'utf8') : undefined;
  const data = (value: unknown) =>
    typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : undefined;

  const connections = contexts.map((entry): KubeConnection => {
    const name = String(entry.name);
    const ctx = entry.context ?? {};
    const cluster = clusters.get(String(ctx.cluster));
    const user = users.get(String(ctx.user)) ?? {};
    const at = `${where} context '${name}'`;
    if (!cluster || typeof cluster.server !== 'string') throw new Error(`${at}: its cluster has no server`);
    if (cluster['insecure-skip-tls-verify'] === true) {
      throw new Error(`${at}: insecure-skip-tls-verify is refused; give certificate-authority-data`);
    }
    if (user.exec || user['auth-provider']) {
      throw new Error(
        `${at}: exec and auth-provider users are not supported; use a service-account token (token or tokenFile) or a client certificate`,
      );
    }
    const conn: KubeConnection = {
      server: serverUrl(parseServiceUrl(cluster.server, `${at} server`)),
      source: at,
    };
    const ca = data(cluster['certificate-authority-data']) ?? file(cluster['certificate-authority']);
    if (ca) conn.ca = ca;
    if (typeof user.token === 'string') {
      const token = user.token;
      conn.token = () => token;
    } else if (typeof user.tokenFile === 'string') conn.token = rereading(resolve(base, user.tokenFile), now);
    const cert = data(user['client-certificate-data']) ?? file(user['client-certificate']);
    const key = data(user['client-key-data']) ?? file(user['client-key']);
    if (cert && key) Object.assign(conn, { cert, key });
    if (!conn.token && !conn.cert) {
      throw new Error(`${at}: its user has no token, tokenFile or client certificate`);
    }
    return conn;
  });
  return {
    source: where,
    connectionFor: (server) => {
      const found = connections.find((c) => c.server === server);
      if (found) return found;
      const known = connections.map((c) => `${c.server} (${c.source.slice(where.length + 1)})`).join(', ');
      // The job sees which server is missing; the exchanger's own contexts are for its log.
      throw new JitkeyError(
        'upstream_error',
        `no context in the exchanger's JITKEY_KUBECONFIG names the Kubernetes API server ${server}: ` +
          "add a context for that server, or fix the role's kubernetes.server",
        { detail: `${where}: its contexts name ${known}` },
      );
    },
  };
}

/** A token file read again when older than a minute (the kubelet rotates projected tokens). */
function rereading(path: string, now: () => number = Date.now): () => string {
  let value = readFileSync(path, 'utf8').trim();
  let readAt = now();
  return () => {
    if (now() - readAt >= TOKEN_REREAD_MS) {
      try {
        value = readFileSync(path, 'utf8').trim();
      } catch {
        // Keep the last good token; the API server says so if it has expired.
      }
      readAt = now();
    }
    return value;
  };
}

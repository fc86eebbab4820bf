/**
 * A Kubernetes API server stand-in on 127.0.0.1 (random port, plain http: the policy accepts http
 * on loopback). It speaks the real paths and JSON for what jitkey and a job do, closely enough for
 * `@kubernetes/client-node` and `kubectl`. Test-only: never import this from `exchanger/`.
 *
 *   const kube = await startKubernetesStandin({ namespaces: { web: ['deployer'] } });
 *   kube.exchangerToken            // the bearer the exchanger's kubeconfig carries (its RBAC below)
 *   kube.writeKubeconfig()         // a kubeconfig file for the exchanger (JITKEY_KUBECONFIG)
 *   kube.forbid('create', 'serviceaccounts/token')   // drop one RBAC rule of the exchanger → 403
 *   kube.failDeletes(2)            // the next 2 Secret deletes answer 500 (an API server in trouble)
 *   kube.answerAudiences(['x'])    // TokenRequests are answered (and tokens issued) for these instead
 *   kube.secrets / kube.issued / kube.requests       // what happened, for assertions
 *   kube.setNow(date)              // the clock tokens expire by
 *   await kube.flushAudit({ url, token, unrelated: 5000 })   // post the audit events so far
 *   await kube.stop()
 *
 * Paths: `GET /version`, discovery (`/api`, `/api/v1`, `/apis`, `/apis/authentication.k8s.io/v1`),
 * Secrets (create, get, delete, list with an equality labelSelector), TokenRequest
 * (`POST /api/v1/namespaces/{ns}/serviceaccounts/{sa}/token`), TokenReview, SelfSubjectReview, and
 * ConfigMaps list/get as the "use" a job makes.
 *
 * What it checks like a real API server: every call but /version and discovery carries a bearer
 * token; the exchanger's token is authorised per (verb, resource) by its RBAC rules (403 Forbidden
 * Status naming the user, verb and resource otherwise); a service-account token is valid while
 * unexpired and while its bound Secret exists with the same uid — delete the Secret and the next
 * call with that token is 401 at once. TokenRequest refuses expirationSeconds below 600, a missing
 * service account (404, details.kind serviceaccounts), a missing or uid-mismatched bound Secret.
 * Creating a Secret in a missing namespace is 404 (details.kind namespaces); a duplicate is 409.
 * A service account may list and get ConfigMaps in its own namespace only (its RBAC).
 *
 * Auditing, as an API server with an audit webhook backend at `Metadata` level
 * (`kubernetes-audit-log.ts`): two events a request, naming the jti of the token it issued that
 * authenticated it (the exchanger's own included); `flushAudit` posts them among as many
 * unrelated events as asked, in EventList batches, and says how each batch was answered.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditLog, type FlushOptions } from './kubernetes-audit-log.js';
import { discoveryAnswer, type Reply } from './kubernetes-discovery.js';

export const EXCHANGER_USER = 'system:serviceaccount:jitkey:jitkey-exchanger';
const RULES = [
  'create secrets',
  'delete secrets',
  'list secrets',
  'create serviceaccounts/token',
  'create tokenreviews',
];

export interface StoredSecret {
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface IssuedToken {
  token: string;
  namespace: string;
  serviceAccount: string;
  audiences: string[];
  expirationSeconds: number;
  expiresAt: Date;
  bound: { kind: string; name: string; uid: string };
  /** The token's id, which every audit event of its requests names. */
  jti: string;
}

export interface KubeRequest {
  method: string;
  path: string;
  accept?: string;
  user?: string;
  status: number;
}

export interface KubernetesStandin {
  url: string;
  /** Base64 PEM of the CA, with `tls` (a kubeconfig's certificate-authority-data). */
  caData?: string;
  exchangerToken: string;
  secrets: Map<string, StoredSecret>;
  issued: IssuedToken[];
  requests: KubeRequest[];
  configMaps: Map<string, Record<string, string>>;
  forbid(verb: string, resource: string): void;
  /** The next `count` Secret deletes answer 500 InternalError and delete nothing. */
  failDeletes(count: number): void;
  /** Issue tokens for these audiences, whatever was asked (undefined: as asked, as Kubernetes does). */
  answerAudiences(audiences: string[] | undefined): void;
  setNow(now: Date): void;
  /** Who a token is, as the API server would authenticate it now (undefined: 401). */
  authenticate(token: string): string | undefined;
  /** Audit events recorded and not yet posted. */
  pendingAudit(): Record<string, unknown>[];
  /**
   * Posts the audit events recorded since the last flush, with `unrelated` other events of a
   * busy cluster spread among them, in batches of `batchSize` (default 400); the answers' statuses.
   */
  flushAudit(options: FlushOptions): Promise<number[]>;
  writeKubeconfig(): string;
  stop(): Promise<void>;
}

interface Options {
  /** namespace → its service accounts. */
  namespaces: Record<string, string[]>;
  /**
   * Serve https with the certificate in test/fixtures/kubernetes-standin-tls (127.0.0.1, signed by
   * its own CA, `caData`). Real clients want it: client-node refuses http without skip-TLS-verify.
   */
  tls?: boolean;
}

export async function startKubernetesStandin(options: Options): Promise<KubernetesStandin> {
  const exchangerToken = `exchanger-${randomBytes(16).toString('hex')}`;
  const rules = new Set(RULES);
  const secrets = new Map<string, StoredSecret>();
  const issued: IssuedToken[] = [];
  const requests: KubeRequest[] = [];
  const configMaps = new Map<string, Record<string, string>>();
  for (const ns of Object.keys(options.namespaces)) configMaps.set(`${ns}/app-config`, { color: 'blue' });
  let now = () => new Date();
  let deleteFailures = 0;
  let forcedAudiences: string[] | undefined;
  const auditLog = createAuditLog();
  const exchangerJti = randomUUID();

  const authenticate = (token: string): string | undefined => {
    if (token === exchangerToken) return EXCHANGER_USER;
    const t = issued.find((i) => i.token === token);
    if (!t || t.expiresAt.getTime() <= now().getTime()) return undefined;
    const bound = secrets.get(`${t.namespace}/${t.bound.name}`);
    if (!bound || bound.uid !== t.bound.uid) return undefined;
    return `system:serviceaccount:${t.namespace}:${t.serviceAccount}`;
  };

  const status = (
    code: number,
    reason: string,
    message: string,
    details?: Record<string, unknown>,
  ): Reply => ({
    status: code,
    body: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      ...(details ? { details } : {}),
      code,
    },
  });
  const forbidden = (user: string, verb: string, resource: string, ns?: string) => {
    const [plural, sub] = resource.split('/');
    return status(
      403,
      'Forbidden',
      `${plural} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${resource === 'tokenreviews' ? 'authentication.k8s.io' : ''}"${ns ? ` in the namespace "${ns}"` : ''}`,
      { kind: sub ? plural : resource },
    );
  };
  const may = (user: string, verb: string, resource: string, ns?: string): boolean => {
    if (user === EXCHANGER_USER) return rules.has(`${verb} ${resource}`);
    // A service account: read ConfigMaps in its own namespace, nothing else.
    const own = user.split(':')[2];
    return resource === 'configmaps' && (verb === 'list' || verb === 'get') && ns === own;
  };

  const handle = (
    method: string,
    url: URL,
    user: string | undefined,
    body: Record<string, unknown>,
  ): Reply => {
    const path = url.pathname;
    if (method === 'GET' && path === '/version') {
      return {
        status: 200,
        body: { major: '1', minor: '31', gitVersion: 'v1.31.0-jitkey-standin', platform: 'linux/amd64' },
      };
    }
    const discovery = discoveryAnswer(method, path);
    if (discovery) return discovery;
    if (!user) return status(401, 'Unauthorized', 'Unauthorized');

    if (method === 'POST' && path === '/apis/authentication.k8s.io/v1/selfsubjectreviews') {
      return {
        status: 201,
        body: {
          kind: 'SelfSubjectReview',
          apiVersion: 'authentication.k8s.io/v1',
          metadata: { creationTimestamp: null },
          status: { userInfo: { username: user, groups: ['system:authenticated'] } },
        },
      };
    }
    if (method === 'POST' && path === '/apis/authentication.k8s.io/v1/tokenreviews') {
      if (!may(user, 'create', 'tokenreviews')) return forbidden(user, 'create', 'tokenreviews');
      const token = String((body.spec as { token?: unknown } | undefined)?.token ?? '');
      const who = authenticate(token);
      return {
        status: 201,
        body: {
          kind: 'TokenReview',
          apiVersion: 'authentication.k8s.io/v1',
          metadata: { creationTimestamp: null },
          spec: {},
          status: who
            ? { authenticated: true, user: { username: who } }
            : { user: {}, error: 'invalid bearer token' },
        },
      };
    }

    const m =
      /^\/api\/v1\/namespaces\/([^/]+)\/(secrets|configmaps|serviceaccounts)(?:\/([^/]+))?(?:\/(token))?$/.exec(
        path,
      );
    if (!m) return status(404, 'NotFound', 'the server could not find the requested resource');
    const [, ns = '', kind = '', name, sub] = m;
    if (!(ns in options.namespaces)) {
      return status(404, 'NotFound', `namespaces "${ns}" not found`, { name: ns, kind: 'namespaces' });
    }
    if (kind === 'serviceaccounts' && sub === 'token' && method === 'POST' && name) {
      if (!may(user, 'create', 'serviceaccounts/token', ns))
        return forbidden(user, 'create', 'serviceaccounts/token', ns);
      return tokenRequest(ns, name, body);
    }
    if (kind === 'configmaps') {
      const verb = name ? 'get' : 'list';
      if (method !== 'GET') return status(405, 'MethodNotAllowed', 'the server does not allow this method');
      if (!may(user, verb, 'configmaps', ns)) return forbidden(user, verb, 'configmaps', ns);
      const items = [...configMaps.entries()]
        .filter(([key]) => key.startsWith(`${ns}/`) && (!name || key === `${ns}/${name}`))
        .map(([key, data]) => ({ metadata: { name: key.split('/')[1], namespace: ns }, data }));
      if (name)
        return items[0]
          ? { status: 200, body: { kind: 'ConfigMap', apiVersion: 'v1', ...items[0] } }
          : status(404, 'NotFound', `configmaps "${name}" not found`, { name, kind: 'configmaps' });
      return {
        status: 200,
        body: { kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items },
      };
    }
    if (kind === 'secrets') return secretCall(method, ns, name, user, url, body);
    return status(404, 'NotFound', 'the server could not find the requested resource');
  };

  const tokenRequest = (ns: string, sa: string, body: Record<string, unknown>): Reply => {
    if (!options.namespaces[ns]?.includes(sa)) {
      return status(404, 'NotFound', `serviceaccounts "${sa}" not found`, {
        name: sa,
        kind: 'serviceaccounts',
      });
    }
    const spec = (body.spec ?? {}) as {
      audiences?: string[];
      expirationSeconds?: number;
      boundObjectRef?: Record<string, string>;
    };
    const seconds = spec.expirationSeconds ?? 3600;
    if (body.kind !== 'TokenRequest' || body.apiVersion !== 'authentication.k8s.io/v1') {
      return status(400, 'BadRequest', 'expected an authentication.k8s.io/v1 TokenRequest');
    }
    if (seconds < 600) {
      return status(
        422,
        'Invalid',
        'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: may not specify a duration less than 10 minutes',
      );
    }
    const ref = spec.boundObjectRef;
    if (ref) {
      if (ref.kind !== 'Secret' || ref.apiVersion !== 'v1')
        return status(400, 'BadRequest', `cannot bind token to object of type ${ref.kind}`);
      const bound = secrets.get(`${ns}/${ref.name}`);
      if (!bound)
        return status(404, 'NotFound', `secrets "${ref.name}" not found`, {
          name: ref.name,
          kind: 'secrets',
        });
      if (ref.uid && ref.uid !== bound.uid)
        return status(
          409,
          'Conflict',
          `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
        );
    } else return status(400, 'BadRequest', 'this stand-in expects a bound token (jitkey always binds)');
    const expiresAt = new Date(Math.floor(now().getTime() / 1000) * 1000 + seconds * 1000);
    // No audiences asked: the API server's own (its --api-audiences).
    const audiences = forcedAudiences ?? spec.audiences ?? ['https://kubernetes.default.svc'];
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const jti = randomUUID();
    const token = `${b64({ alg: 'RS256', kid: 'standin' })}.${b64({ aud: audiences, sub: `system:serviceaccount:${ns}:${sa}`, exp: expiresAt.getTime() / 1000, jti })}.${randomBytes(32).toString('base64url')}`;
    const bound = secrets.get(`${ns}/${ref.name}`)!;
    issued.push({
      token,
      namespace: ns,
      serviceAccount: sa,
      audiences,
      expirationSeconds: seconds,
      expiresAt,
      bound: { kind: 'Secret', name: bound.name, uid: bound.uid },
      jti,
    });
    return {
      status: 201,
      body: {
        kind: 'TokenRequest',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { name: sa, namespace: ns, creationTimestamp: null },
        spec: { ...spec, audiences, expirationSeconds: seconds },
        status: { token, expirationTimestamp: expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z') },
      },
    };
  };

  const secretCall = (
    method: string,
    ns: string,
    name: string | undefined,
    user: string,
    url: URL,
    body: Record<string, unknown>,
  ): Reply => {
    const verb = method === 'POST' ? 'create' : method === 'DELETE' ? 'delete' : name ? 'get' : 'list';
    if (!may(user, verb, 'secrets', ns)) return forbidden(user, verb, 'secrets', ns);
    if (verb === 'create') {
      const meta = (body.metadata ?? {}) as {
        name?: string;
        labels?: Record<string, string>;
        annotations?: Record<string, string>;
      };
      if (!meta.name || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(meta.name) || meta.name.length > 253) {
        return status(
          422,
          'Invalid',
          `Secret "${meta.name}" is invalid: metadata.name: Invalid value: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`,
        );
      }
      if (secrets.has(`${ns}/${meta.name}`))
        return status(409, 'AlreadyExists', `secrets "${meta.name}" already exists`, {
          name: meta.name,
          kind: 'secrets',
        });
      const s: StoredSecret = {
        namespace: ns,
        name: meta.name,
        uid: randomUUID(),
        labels: meta.labels ?? {},
        annotations: meta.annotations ?? {},
      };
      secrets.set(`${ns}/${meta.name}`, s);
      return { status: 201, body: secretBody(s) };
    }
    if (verb === 'delete' && deleteFailures > 0) {
      deleteFailures--;
      return status(500, 'InternalError', 'Internal error occurred: etcdserver: request timed out');
    }
    if (verb === 'delete' || verb === 'get') {
      const s = secrets.get(`${ns}/${name}`);
      if (!s) return status(404, 'NotFound', `secrets "${name}" not found`, { name, kind: 'secrets' });
      if (verb === 'delete') {
        secrets.delete(`${ns}/${name}`);
        return {
          status: 200,
          body: {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Success',
            details: { name, kind: 'secrets', uid: s.uid },
          },
        };
      }
      return { status: 200, body: secretBody(s) };
    }
    const selector = url.searchParams.get('labelSelector') ?? '';
    const want = selector ? selector.split(',').map((p) => p.split('=') as [string, string]) : [];
    const items = [...secrets.values()].filter(
      (s) => s.namespace === ns && want.every(([k, v]) => s.labels[k] === v),
    );
    return {
      status: 200,
      body: {
        kind: 'SecretList',
        apiVersion: 'v1',
        metadata: { resourceVersion: '1' },
        items: items.map(secretBody),
      },
    };
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://standin');
      const auth = req.headers.authorization ?? '';
      const user = auth.startsWith('Bearer ') ? authenticate(auth.slice(7)) : undefined;
      let body: Record<string, unknown> = {};
      try {
        body = chunks.length
          ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>)
          : {};
      } catch {
        const reply = status(400, 'BadRequest', 'the body is not JSON');
        res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
        return;
      }
      const reply = handle(req.method ?? 'GET', url, user, body);
      requests.push({
        method: req.method ?? 'GET',
        path: url.pathname,
        ...(req.headers.accept ? { accept: req.headers.accept } : {}),
        ...(user ? { user } : {}),
        status: reply.status,
      });
      const token = auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
      const reason = (reply.body as { reason?: string }).reason;
      const jti = token === exchangerToken ? exchangerJti : issued.find((i) => i.token === token)?.jti;
      auditLog.record({
        method: req.method ?? 'GET',
        url,
        ...(req.socket.remoteAddress ? { remoteAddress: req.socket.remoteAddress } : {}),
        ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
        ...(user ? { username: user } : {}),
        ...(jti ? { jti } : {}),
        status: reply.status,
        ...(reason ? { reason } : {}),
        at: now(),
      });
      res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
    });
  };
  const tlsFile = (name: string) =>
    readFileSync(new URL(`../fixtures/kubernetes-standin-tls/${name}`, import.meta.url));
  const server = options.tls
    ? createHttpsServer({ key: tlsFile('server.key'), cert: tlsFile('server.crt') }, onRequest)
    : createServer(onRequest);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const caData = options.tls ? tlsFile('ca.crt').toString('base64') : undefined;

  return {
    url,
    ...(caData ? { caData } : {}),
    exchangerToken,
    secrets,
    issued,
    requests,
    configMaps,
    forbid: (verb, resource) => rules.delete(`${verb} ${resource}`),
    failDeletes: (count) => {
      deleteFailures = count;
    },
    answerAudiences: (audiences) => {
      forcedAudiences = audiences;
    },
    setNow: (date) => {
      now = () => date;
    },
    authenticate,
    pendingAudit: auditLog.pending,
    flushAudit: auditLog.flush,
    writeKubeconfig() {
      const dir = mkdtempSync(join(tmpdir(), 'jitkey-kube-'));
      const path = join(dir, 'exchanger.kubeconfig');
      writeFileSync(
        path,
        `apiVersion: v1\nkind: Config\nclusters:\n  - name: standin\n    cluster: { server: "${url}"${caData ? `, certificate-authority-data: "${caData}"` : ''} }\nusers:\n  - name: jitkey\n    user: { token: "${exchangerToken}" }\ncontexts:\n  - name: standin\n    context: { cluster: standin, user: jitkey }\ncurrent-context: standin\n`,
        { mode: 0o600 },
      );
      return path;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function secretBody(s: StoredSecret): Record<string, unknown> {
  return {
    kind: 'Secret',
    apiVersion: 'v1',
    type: 'Opaque',
    metadata: {
      name: s.name,
      namespace: s.namespace,
      uid: s.uid,
      labels: s.labels,
      annotations: s.annotations,
      resourceVersion: '1',
    },
  };
}

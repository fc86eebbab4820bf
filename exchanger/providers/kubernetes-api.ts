/**
 * The four Kubernetes API calls the provider makes (create/delete/list Secrets, TokenRequest), over
 * node:http(s) with the exchanger's own credentials and CA, through the HTTP core
 * (`net/http-client.ts`: timeout, answer size limit, no redirects).
 *
 * Why not `@kubernetes/client-node`: version 2 ships undici 8, which needs Node ≥ 22.19 and fails at
 * import on the Node 20 this project supports (and its Docker image runs); it is 67 MB on disk and took
 * 3.6–4.9 s to import here (load average 10–20; these three modules: 0.5–0.6 s, mostly the yaml the
 * policy needs anyway). Four REST calls with JSON bodies do not need it. The tests still run the real
 * client against the Kubernetes stand-in (under Node 24) to prove the stand-in's wire format.
 *
 * What the answers mean, failures included: `kubernetes-answers.ts`; the checks of an issued
 * token's audiences: `kubernetes-token-claims.ts`.
 */
import { type HttpAnswer, type HttpError, httpCall, nodeTransport } from '../net/http-client.js';
import {
  type Answer,
  type Call,
  jsonObject,
  malformed,
  NEEDS,
  refusal,
  unreachable,
} from './kubernetes-answers.js';
import { checkAudiences } from './kubernetes-token-claims.js';

/** How the exchanger itself reaches and authenticates to one API server. */
export interface KubeConnection {
  server: string;
  /** PEM of the CA to trust; the system CAs when absent. */
  ca?: string;
  /** A bearer token, read at each call (in-cluster tokens rotate on disk). */
  token?: () => string;
  /** Client certificate authentication (PEM). */
  cert?: string;
  key?: string;
  /** Where these settings came from, for messages (`JITKEY_KUBECONFIG context 'x'`, `in-cluster`). */
  source: string;
}

export interface SecretRef {
  namespace: string;
  name: string;
}

export interface SecretSummary {
  name: string;
  annotations: Record<string, string>;
}

export interface KubeApi {
  /** Creates an Opaque Secret with no data; returns its uid. */
  createSecret(
    ref: SecretRef,
    meta: { labels: Record<string, string>; annotations: Record<string, string> },
  ): Promise<string>;
  /** TokenRequest bound to the Secret; returns the token and its expiry as the API server set it. */
  requestToken(
    namespace: string,
    serviceAccount: string,
    spec: { audiences: string[]; expirationSeconds: number; secret: SecretRef & { uid: string } },
  ): Promise<string>;
  /** Deletes a Secret; `gone` when it was not there (already deleted counts as done). */
  deleteSecret(ref: SecretRef): Promise<'deleted' | 'gone'>;
  listSecrets(namespace: string, labelSelector: string): Promise<SecretSummary[]>;
}

const REQUEST_TIMEOUT_MS = 10_000;
/** An API answer larger than this is not one of ours (a Secret list is paged at this size too). */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;
const LIST_LIMIT = 500;
/**
 * The sweep asks for Secrets' metadata only: `list` would let it read their data, and it never
 * wants to hold another workload's secrets in memory (plain JSON is the fallback a server may pick).
 */
const METADATA_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json';

export function createKubeApi(conn: KubeConnection): KubeApi {
  const base = new URL(conn.server);
  const prefix = base.pathname.replace(/\/+$/, '');

  const transport = nodeTransport({
    ...(conn.ca ? { ca: conn.ca } : {}),
    ...(conn.cert && conn.key ? { cert: conn.cert, key: conn.key } : {}),
  });

  const send = async (
    call: Call,
    method: string,
    path: string,
    namespace: string,
    body?: unknown,
    accept?: string,
  ): Promise<Answer> => {
    const headers: Record<string, string> = { accept: accept ?? 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const token = conn.token?.();
    if (token) headers.authorization = `Bearer ${token}`;
    let res: HttpAnswer;
    try {
      res = await httpCall(
        {
          name: `Kubernetes ${NEEDS[call].verb} ${NEEDS[call].resource}`,
          method,
          url: `${base.origin}${prefix}${path}`,
          headers,
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          timeoutMs: REQUEST_TIMEOUT_MS,
          maxBytes: MAX_ANSWER_BYTES,
        },
        transport,
      );
    } catch (err) {
      const e = err as HttpError;
      if (e.failure === 'unreachable' || e.failure === 'timeout') throw unreachable(conn, e);
      throw malformed(conn, e.message);
    }
    const answer = { status: res.status, body: jsonObject(res) };
    if (answer.status >= 400 && !(call === 'deleteSecret' && answer.status === 404)) {
      throw refusal(conn, call, namespace, answer);
    }
    return answer;
  };

  const ns = (namespace: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}`;

  return {
    async createSecret(ref, meta) {
      const { body } = await send('createSecret', 'POST', `${ns(ref.namespace)}/secrets`, ref.namespace, {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        metadata: { name: ref.name, namespace: ref.namespace, ...meta },
      });
      const uid = (body.metadata as { uid?: unknown } | undefined)?.uid;
      if (typeof uid !== 'string') throw malformed(conn, 'the created Secret has no metadata.uid');
      return uid;
    },

    async requestToken(namespace, serviceAccount, spec) {
      const path = `${ns(namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount)}/token`;
      const { body } = await send('requestToken', 'POST', path, namespace, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: {
          ...(spec.audiences.length ? { audiences: spec.audiences } : {}),
          expirationSeconds: spec.expirationSeconds,
          boundObjectRef: { kind: 'Secret', apiVersion: 'v1', name: spec.secret.name, uid: spec.secret.uid },
        },
      });
      const status = body.status as { token?: unknown; expirationTimestamp?: unknown } | undefined;
      // An answer without its expiry is not what Kubernetes sends: refused, though the lease's own
      // end (the Secret's deletion) is what ends the token.
      const expiresAt = new Date(String(status?.expirationTimestamp));
      if (typeof status?.token !== 'string' || !status.token || Number.isNaN(expiresAt.getTime())) {
        throw malformed(conn, 'the TokenRequest answer has no status.token and status.expirationTimestamp');
      }
      checkAudiences(conn, spec.audiences, body.spec, status.token);
      return status.token;
    },

    async deleteSecret(ref) {
      const path = `${ns(ref.namespace)}/secrets/${encodeURIComponent(ref.name)}`;
      // Background: the Secret goes at once; nothing depends on it but the token, which dies with it.
      const { status } = await send('deleteSecret', 'DELETE', path, ref.namespace, {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        propagationPolicy: 'Background',
      });
      return status === 404 ? 'gone' : 'deleted';
    },

    async listSecrets(namespace, labelSelector) {
      const out: SecretSummary[] = [];
      let next: string | undefined;
      do {
        const query = new URLSearchParams({ labelSelector, limit: String(LIST_LIMIT) });
        if (next) query.set('continue', next);
        const { body } = await send(
          'listSecrets',
          'GET',
          `${ns(namespace)}/secrets?${query}`,
          namespace,
          undefined,
          METADATA_ONLY,
        );
        const items = Array.isArray(body.items)
          ? (body.items as { metadata?: Record<string, unknown> }[])
          : [];
        for (const item of items) {
          const name = item.metadata?.name;
          if (typeof name !== 'string') continue;
          const annotations = (item.metadata?.annotations ?? {}) as Record<string, string>;
          out.push({ name, annotations });
        }
        const cont = (body.metadata as { continue?: unknown } | undefined)?.continue;
        next = typeof cont === 'string' && cont ? cont : undefined;
      } while (next);
      return out;
    },
  };
}

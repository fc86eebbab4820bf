/** The `kubernetes` block of a role (reference.md §6, Kubernetes provider). */
import { X509Certificate } from 'node:crypto';
import { parseServiceUrl } from '../../net/service-url.js';
import { isLoopbackHost } from '../../net/url-rule.js';
import type { KubernetesRoleConfig } from '../model/types.js';
import { KUBERNETES_KEYS } from './keys.js';
import type { Field, Reader } from './read.js';

/** Kubernetes' rule for namespaces (RFC 1123 label). */
const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
/** Kubernetes' rule for service account names (RFC 1123 subdomain, at most 253). */
const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function readKubernetes(r: Reader, block: Field, path: string): KubernetesRoleConfig | undefined {
  const f = r.fields(block.value, KUBERNETES_KEYS, path, block.key);
  if (!f) return undefined;
  const out: KubernetesRoleConfig = { server: '', namespace: '', serviceAccount: '', audiences: [] };

  const serverField = r.require(f, 'server', path, block.key);
  const server = serverField && r.string(serverField, `${path}.server`);
  let loopback = false;
  if (server !== undefined) {
    try {
      const url = parseServiceUrl(server, `${path}.server`);
      loopback = isLoopbackHost(url.hostname);
      out.server = serverUrl(url);
    } catch (err) {
      r.error(serverField?.value, (err as Error).message);
    }
  }

  const caField = f.get('ca_data');
  if (caField) {
    const ca = r.string(caField, `${path}.ca_data`);
    const problem = ca === undefined ? undefined : caProblem(ca);
    if (problem) r.error(caField.value, `${path}.ca_data: ${problem}`);
    else if (ca !== undefined) out.caData = ca.replace(/\s+/g, '');
  } else if (out.server && !loopback) {
    r.error(
      block.key,
      `${path}: missing required key 'ca_data' (the base64 PEM of the cluster's CA, as in a kubeconfig's ` +
        'certificate-authority-data); it may be left out only for a loopback server',
    );
  }

  const nsField = r.require(f, 'namespace', path, block.key);
  const namespace = nsField && r.string(nsField, `${path}.namespace`);
  if (namespace !== undefined && !DNS_LABEL.test(namespace)) {
    r.error(
      nsField?.value,
      `${path}.namespace: '${namespace}' is not a Kubernetes namespace name (at most 63 lowercase letters, ` +
        "digits and '-', starting and ending with a letter or digit)",
    );
  } else if (namespace !== undefined) out.namespace = namespace;

  const saField = r.require(f, 'service_account', path, block.key);
  const sa = saField && r.string(saField, `${path}.service_account`);
  if (sa !== undefined && (sa.length > 253 || !DNS_SUBDOMAIN.test(sa))) {
    r.error(
      saField?.value,
      `${path}.service_account: '${sa}' is not a Kubernetes service account name (lowercase letters, digits, ` +
        "'-' and '.', at most 253; the name only, without 'system:serviceaccount:' or the namespace)",
    );
  } else if (sa !== undefined) out.serviceAccount = sa;

  const audField = f.get('audiences');
  if (audField) {
    for (const a of r.strings(audField, `${path}.audiences`, { nonEmpty: true })) {
      if (!out.audiences.includes(a.value)) out.audiences.push(a.value);
    }
  }
  return out;
}

/** Origin plus path, without a trailing `/` (an API server behind a proxy may have a path). */
export function serverUrl(url: URL): string {
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.origin}${path}`;
}

function caProblem(text: string): string | undefined {
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact)) {
    return "must be base64 (a kubeconfig's certificate-authority-data: `base64 -w0 ca.crt`), not PEM text or a path";
  }
  const pem = Buffer.from(compact, 'base64').toString('utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    return 'decodes to something other than a PEM certificate (expected -----BEGIN CERTIFICATE-----)';
  }
  try {
    new X509Certificate(pem);
  } catch (err) {
    return `decodes to a PEM certificate that does not parse: ${(err as Error).message}`;
  }
  return undefined;
}

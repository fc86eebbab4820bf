/**
 * How `jitkey credentials` writes a lease (pure; the command writes the text where it is told):
 * shell `export` lines, a dotenv file, AWS's `credential_process` answer, a kubeconfig, or the
 * exchanger's answer as JSON. Variable names are the Action's (reference.md §4, the Action), so a script that
 * runs under GitHub Actions and under another CI reads the same names.
 */
import type { Lease } from './exchange-client.js';

export const FORMATS = ['export', 'dotenv', 'credential-process', 'kubeconfig', 'json'] as const;
export type Format = (typeof FORMATS)[number];

/** A credential the exchanger sent without a field this format needs. */
export class FormatError extends Error {
  override name = 'FormatError';
}

/** A credential field, by its name in the provider's shape (`api-types.ts`); a FormatError when absent. */
function field<L extends Lease>(lease: L, name: keyof L['credentials'] & string): string {
  const value = optional(lease, name);
  if (value === undefined)
    throw new FormatError(`the exchanger's ${lease.provider} credentials lack '${name}'`);
  return value;
}

function optional<L extends Lease>(lease: L, name: keyof L['credentials'] & string): string | undefined {
  const value = (lease.credentials as Record<string, unknown>)[name];
  return typeof value === 'string' && value ? value : undefined;
}

/** The variables a lease sets; a Kubernetes lease sets `KUBECONFIG`, the file written beside. */
export function envFor(lease: Lease, kubeconfigPath?: string): Array<[string, string]> {
  switch (lease.provider) {
    case 'aws': {
      const vars: Array<[string, string]> = [
        ['AWS_ACCESS_KEY_ID', field(lease, 'access_key_id')],
        ['AWS_SECRET_ACCESS_KEY', field(lease, 'secret_access_key')],
        ['AWS_SESSION_TOKEN', field(lease, 'session_token')],
      ];
      const region = optional(lease, 'region');
      if (region) vars.push(['AWS_REGION', region], ['AWS_DEFAULT_REGION', region]);
      return vars;
    }
    case 'gcp': {
      const token = field(lease, 'access_token');
      return [
        ['GOOGLE_OAUTH_ACCESS_TOKEN', token],
        ['CLOUDSDK_AUTH_ACCESS_TOKEN', token],
      ];
    }
    case 'github':
      return [['GH_TOKEN', field(lease, 'token')]];
    case 'kubernetes':
      if (!kubeconfigPath)
        throw new FormatError('a kubernetes lease needs --kubeconfig FILE to export KUBECONFIG');
      return [['KUBECONFIG', kubeconfigPath]];
  }
}

/** POSIX sh single quotes: nothing inside is expanded; a `'` is closed, escaped and reopened. */
export const shellQuote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

/** `export NAME='value'` lines, for `. FILE` (or `eval`) in any POSIX shell. */
export function exportLines(vars: Array<[string, string]>): string {
  return vars.map(([name, value]) => `export ${name}=${shellQuote(value)}\n`).join('');
}

/** What a dotenv value may hold bare and still mean the same to sh, docker --env-file and dotenv libraries. */
const DOTENV_BARE = /^[A-Za-z0-9_./:@%+=,-]*$/;

/**
 * `NAME=value` lines. Credential values (base64, ARNs, URLs) are written bare, which every dotenv
 * reader and `set -a; . FILE` take alike; a value outside that alphabet is single-quoted, and one
 * holding a quote or a line break is refused rather than written in a form some reader misreads.
 */
export function dotenvLines(vars: Array<[string, string]>): string {
  return vars
    .map(([name, value]) => {
      if (DOTENV_BARE.test(value)) return `${name}=${value}\n`;
      if (/['\n\r]/.test(value))
        throw new FormatError(`${name} cannot be written to a dotenv file safely; use --format export`);
      return `${name}='${value}'\n`;
    })
    .join('');
}

/**
 * AWS's `credential_process` answer: `Version` 1, `AccessKeyId`, `SecretAccessKey`, `SessionToken`
 * and `Expiration` (RFC 3339), as the AWS CLI and SDKs read it from the process's stdout.
 */
export function credentialProcess(lease: Lease): string {
  if (lease.provider !== 'aws') {
    throw new FormatError(
      `role '${lease.role}' issues ${lease.provider} credentials; credential-process is AWS's format: use --format export`,
    );
  }
  return `${JSON.stringify({
    Version: 1,
    AccessKeyId: field(lease, 'access_key_id'),
    SecretAccessKey: field(lease, 'secret_access_key'),
    SessionToken: field(lease, 'session_token'),
    Expiration: optional(lease, 'expiration') ?? lease.expires_at,
  })}\n`;
}

/** A kubeconfig for a Kubernetes lease, as JSON (which is YAML too): one cluster, user and context. */
export function kubeconfig(lease: Lease): string {
  if (lease.provider !== 'kubernetes') {
    throw new FormatError(
      `role '${lease.role}' issues ${lease.provider} credentials; a kubeconfig is for kubernetes roles: use --format export`,
    );
  }
  const name = `jitkey-${lease.role}`;
  const ca = optional(lease, 'ca_data');
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name,
        cluster: { server: field(lease, 'server'), ...(ca ? { 'certificate-authority-data': ca } : {}) },
      },
    ],
    users: [{ name, user: { token: field(lease, 'token') } }],
    contexts: [{ name, context: { cluster: name, user: name, namespace: field(lease, 'namespace') } }],
    'current-context': name,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** The text of `format` for a lease; `kubeconfigPath` is where a Kubernetes lease's kubeconfig goes. */
export function render(format: Format, lease: Lease, kubeconfigPath?: string): string {
  switch (format) {
    case 'export':
      return exportLines(envFor(lease, kubeconfigPath));
    case 'dotenv':
      return dotenvLines(envFor(lease, kubeconfigPath));
    case 'credential-process':
      return credentialProcess(lease);
    case 'kubeconfig':
      return kubeconfig(lease);
    case 'json':
      return `${JSON.stringify(lease)}\n`;
  }
}

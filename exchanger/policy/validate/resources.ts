import { parseServiceUrl } from '../../net/service-url.js';
import { asciiLower } from '../model/glob.js';
import type { SourcePosition } from '../model/types.js';
import {
  AWS_RESOURCE_KEYS,
  GCP_RESOURCE_KEYS,
  GITHUB_RESOURCE_KEYS,
  KUBERNETES_RESOURCE_KEYS,
  RESOURCE_KEYS,
} from './keys.js';
import type { Field, Reader } from './read.js';
import { serverUrl } from './validate-kubernetes.js';
import { type Access, organizationPermissions, readPermissions } from './validate-permissions.js';

/**
 * Server URLs that name one cluster: each group is one cluster's addresses (in-cluster, the
 * service address, `https://kubernetes.default.svc` and `JITKEY_IN_CLUSTER_SERVERS` all reach the
 * exchanger's own). Only the exchanger's credentials know them, so the loader is handed them.
 * Compared as one, a team cannot reach another's namespace by writing the other address.
 */
export type ClusterNames = readonly (readonly string[])[];

export type { Access };

export interface ResourcesDoc {
  position: SourcePosition;
  /** `sessionTags`: a scope's tag keys its roles may set (case-insensitive); none when absent. */
  aws?: { accounts: string[]; roleArns: string[]; sessionTags?: string[] };
  gcp?: { projects: string[]; serviceAccounts: string[] };
  kubernetes?: { clusters: string[]; namespaces: string[]; serviceAccounts?: string[]; audiences?: string[] };
  github?: {
    repositories: string[];
    permissions?: Record<string, Access>;
    /** A selector's: roles with (true) or without (false) some permission at write or above. */
    write?: boolean;
  };
}

export type ResourceProvider = 'aws' | 'gcp' | 'kubernetes' | 'github';

/** `111122223333` (the `aws` partition) or `aws-cn:…`, `aws-us-gov:…` (an account of that one). */
const ACCOUNT = /^((aws-cn|aws-us-gov):)?\d{12}$/;
/** A scope's role ARN pattern: partition and account written out, a glob only in the role part. */
const SCOPE_ROLE_ARN = /^arn:aws(-cn|-us-gov)?:iam::\d{12}:role\/\S+$/;
const PROJECT = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
const NAME_GLOB = /^[a-z0-9*][-a-z0-9.*]*$/;
/** An AWS tag key as STS takes it. */
const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;

/** `teams.<name>.resources` or `shared[].resources`: a scope naming at least one provider. */
export function readScope(r: Reader, field: Field, path: string): ResourcesDoc {
  const f = r.fields(field.value, RESOURCE_KEYS, path, field.key);
  const out = readResourceFields(r, f ?? new Map(), path, 'scope', r.pos(field.key));
  if (f?.size === 0)
    r.error(field.value ?? field.key, `${path} names no provider: give aws, gcp, kubernetes or github`);
  return out;
}

/** The provider blocks among a map's fields (a scope's, or a guardrail's `applies_to`). */
export function readResourceFields(
  r: Reader,
  f: Map<string, Field>,
  path: string,
  mode: 'scope' | 'selector',
  position: SourcePosition,
): ResourcesDoc {
  const out: ResourcesDoc = { position };
  const aws = f.get('aws');
  if (aws) out.aws = readAws(r, aws, `${path}.aws`, mode);
  const gcp = f.get('gcp');
  if (gcp) out.gcp = readGcp(r, gcp, `${path}.gcp`, mode);
  const kubernetes = f.get('kubernetes');
  if (kubernetes) out.kubernetes = readKubernetes(r, kubernetes, `${path}.kubernetes`, mode);
  const github = f.get('github');
  if (github) out.github = readGithub(r, github, `${path}.github`, mode);
  return out;
}

/** Reads `fields` of a block; in a scope, `need` says which keys (any one of) must be given. */
function block(
  r: Reader,
  field: Field,
  keys: readonly string[],
  path: string,
  need: readonly string[],
): Map<string, Field> | undefined {
  const f = r.fields(field.value, keys, path, field.key);
  if (f && need.length > 0 && !need.some((k) => f.has(k))) {
    r.error(field.value ?? field.key, `${path} needs ${need.join(' or ')}`);
  }
  return f;
}

function list(
  r: Reader,
  f: Map<string, Field> | undefined,
  key: string,
  path: string,
  check: (value: string) => string | undefined,
): string[] {
  const field = f?.get(key);
  if (!field) return [];
  const out: string[] = [];
  for (const s of r.strings(field, `${path}.${key}`, { nonEmpty: true })) {
    const problem = check(s.value);
    if (problem) r.error(s.node, `${path}.${key}: '${s.value}' ${problem}`);
    else if (!out.includes(s.value)) out.push(s.value);
  }
  return out;
}

function readAws(r: Reader, field: Field, path: string, mode: string): ResourcesDoc['aws'] {
  const f = block(r, field, AWS_RESOURCE_KEYS, path, mode === 'scope' ? ['accounts', 'role_arns'] : []);
  const tags = f?.get('session_tags');
  let sessionTags: string[] | undefined;
  if (tags && mode !== 'scope') {
    r.error(
      tags.key,
      `${path}.session_tags caps what a team's roles may tag; a guardrail selects by role_arns or accounts`,
    );
  } else if (tags) {
    sessionTags = list(r, f, 'session_tags', path, (v) =>
      TAG_KEY.test(v) && !v.toLowerCase().startsWith('aws:')
        ? undefined
        : 'is not a session tag key (1–128 letters, digits, spaces and _.:/=+-@, not aws:…)',
    );
  }
  return {
    ...(sessionTags ? { sessionTags } : {}),
    accounts: list(r, f, 'accounts', path, (v) =>
      ACCOUNT.test(v)
        ? undefined
        : 'is not a 12-digit AWS account id (of the aws partition; aws-cn:… or aws-us-gov:… for another)',
    ),
    roleArns: list(r, f, 'role_arns', path, (v) => {
      if (mode === 'scope' && !SCOPE_ROLE_ARN.test(v)) {
        return 'is not a role ARN pattern like arn:aws:iam::111122223333:role/team-* (the account written out)';
      }
      return v.startsWith('arn:') ? undefined : 'is not a role ARN pattern (arn:aws:iam::…:role/…)';
    }),
  };
}

function readGcp(r: Reader, field: Field, path: string, mode: string): ResourcesDoc['gcp'] {
  const f = block(
    r,
    field,
    GCP_RESOURCE_KEYS,
    path,
    mode === 'scope' ? ['projects', 'service_accounts'] : [],
  );
  return {
    projects: list(r, f, 'projects', path, (v) =>
      PROJECT.test(v) ? undefined : 'is not a GCP project id (6–30 lowercase letters, digits and -)',
    ),
    serviceAccounts: list(r, f, 'service_accounts', path, (v) =>
      v.includes('@')
        ? undefined
        : 'is not a service account email or pattern (name@project.iam.gserviceaccount.com)',
    ),
  };
}

function readKubernetes(r: Reader, field: Field, path: string, mode: string): ResourcesDoc['kubernetes'] {
  const f = r.fields(field.value, KUBERNETES_RESOURCE_KEYS, path, field.key);
  if (f && mode === 'scope') {
    for (const k of ['clusters', 'namespaces']) {
      if (!f.has(k)) r.error(field.value ?? field.key, `${path}: missing required key '${k}'`);
    }
  }
  const clusters: string[] = [];
  const clusterField = f?.get('clusters');
  for (const s of clusterField ? r.strings(clusterField, `${path}.clusters`, { nonEmpty: true }) : []) {
    try {
      const url = serverUrl(parseServiceUrl(s.value, `${path}.clusters`));
      if (!clusters.includes(url)) clusters.push(url);
    } catch (err) {
      r.error(s.node, (err as Error).message);
    }
  }
  const names = (v: string) =>
    NAME_GLOB.test(v)
      ? undefined
      : "is not a Kubernetes name or pattern (lowercase letters, digits, '-', '.', '*')";
  const out: NonNullable<ResourcesDoc['kubernetes']> = {
    clusters,
    namespaces: list(r, f, 'namespaces', path, names),
  };
  if (f?.has('service_accounts')) out.serviceAccounts = list(r, f, 'service_accounts', path, names);
  if (f?.has('audiences')) out.audiences = list(r, f, 'audiences', path, () => undefined);
  return out;
}

function readGithub(r: Reader, field: Field, path: string, mode: string): ResourcesDoc['github'] {
  const f = r.fields(field.value, GITHUB_RESOURCE_KEYS, path, field.key);
  if (f && mode === 'scope') {
    for (const k of ['repositories', 'permissions']) {
      if (!f.has(k)) r.error(field.value ?? field.key, `${path}: missing required key '${k}'`);
    }
  }
  const out: NonNullable<ResourcesDoc['github']> = {
    repositories: list(r, f, 'repositories', path, (v) => {
      const [owner = '', name, extra] = v.split('/');
      if (!owner || !name || extra !== undefined) return 'must be owner/name, owner/prefix-* or owner/*';
      return owner.includes('*') ? 'has a wildcard owner: name the GitHub owner' : undefined;
    }),
  };
  const write = f?.get('write');
  if (write) {
    if (mode === 'scope') {
      r.error(write.key, `${path}.write selects roles in a guardrail; a scope caps them with permissions`);
    } else {
      const value = r.boolean(write, `${path}.write`);
      if (value !== undefined) out.write = value;
    }
  }
  const perms = f?.get('permissions');
  if (perms) out.permissions = readPermissions(r, perms, path);
  if (mode === 'scope' && perms && out.permissions) checkOrganizationWide(r, perms, out, path);
  return out;
}

/**
 * An organization permission (`organization_secrets`, `members`, …) acts on every repository of
 * its owner, whichever repositories a role lists. A scope may cap it only where it already holds
 * all of that owner's repositories (`acme/*`): else a team given `acme/web-*` and
 * `organization_secrets: write` could write the secrets every other team's repositories read.
 */
function checkOrganizationWide(
  r: Reader,
  perms: Field,
  scope: NonNullable<ResourcesDoc['github']>,
  path: string,
): void {
  const org = organizationPermissions(scope.permissions ?? {});
  if (org.length === 0) return;
  const whole = new Set(
    scope.repositories.filter((p) => /^[^/]+\/\*\*?$/.test(p)).map((p) => asciiLower(p.split('/')[0]!)),
  );
  const partial = [
    ...new Set(scope.repositories.map((p) => p.split('/')[0]!).filter((o) => !whole.has(asciiLower(o)))),
  ];
  if (partial.length === 0) return;
  r.error(
    perms.key,
    `${path}.permissions: ${org.join(', ')} ${org.length === 1 ? 'acts' : 'act'} on every repository of ` +
      `${partial.join(' and ')}, but this scope ` +
      `holds only some of them (${scope.repositories.join(', ')}): a role with them would reach other teams' ` +
      `repositories. Hold all of the owner (${partial.map((o) => `${o}/*`).join(', ')}), or drop ${org.join(', ')}`,
  );
}

/**
 * What a role grants, and whether a resource scope or selector (`resources.ts`) holds it. Pure.
 *
 * Compared on the resource, not the role's name: the role ARN, the service account (and each
 * delegate it acts through), the cluster + namespace + service account, each repository. IAM
 * role names are unique case-insensitively, so role ARNs match with ASCII case folding (a
 * `role/Payments-Deploy` is inside `role/payments-*`); account ids, projects, clusters (`clusterOf`) and
 * Kubernetes names compare exactly (they are digits or lowercase by their own rules), repository
 * names with case folding as GitHub does.
 *
 * IAM makes a role's name unique in its account whatever its path, so a `role/NAME-GLOB` pattern
 * (no `/` in its role part) holds `role/any/path/NAME` too: else `role/prod-*` would miss
 * `role/ci/prod-db-admin`, and a path would take a role out of a guardrail or a team's scope.
 * An account is its partition's: `111122223333` is `arn:aws:`'s, `aws-cn:111122223333` China's.
 */

import { compilePatterns } from '../model/glob.js';
import type { RoleDoc } from './doc.js';
import type { Access, ClusterNames, ResourceProvider, ResourcesDoc } from './resources.js';

/** The cluster a server URL names: the first address of its group, else the URL itself. */
export function clusterOf(clusters: ClusterNames, server: string): string {
  for (const group of clusters) if (group.includes(server)) return group[0] ?? server;
  return server;
}

/** One thing a role hands out, as messages name it. */
export interface Granted {
  provider: ResourceProvider;
  /** `arn:aws:iam::…`, `sa@project.iam.gserviceaccount.com`, `https://k8s… ns/sa`, `owner/name`. */
  id: string;
  /** Which key of the role's block it comes from, for `roles.NAME.aws.role_arn`-style paths. */
  key: string;
  aws?: { arn: string; account: string };
  gcp?: { serviceAccount: string };
  /** `server` as the role writes it; `cluster` as compared (`clusterOf`). */
  kubernetes?: { server: string; cluster: string; namespace: string; serviceAccount: string };
  github?: { repository: string };
}

export function grantedBy(role: RoleDoc, clusters: ClusterNames): Granted[] {
  const out: Granted[] = [];
  if (role.aws?.roleArn) {
    const arn = role.aws.roleArn;
    out.push({ provider: 'aws', id: arn, key: 'aws.role_arn', aws: { arn, account: accountOf(arn) } });
  }
  if (role.gcp?.serviceAccount) {
    const sa = role.gcp.serviceAccount;
    out.push({ provider: 'gcp', id: sa, key: 'gcp.service_account', gcp: { serviceAccount: sa } });
    for (const d of role.gcp.delegates) {
      out.push({ provider: 'gcp', id: d, key: 'gcp.delegates', gcp: { serviceAccount: d } });
    }
  }
  const k = role.kubernetes;
  if (k?.server && k.namespace && k.serviceAccount) {
    const id = `${k.server} ${k.namespace}/${k.serviceAccount}`;
    out.push({
      provider: 'kubernetes',
      id,
      key: 'kubernetes.namespace',
      kubernetes: {
        server: k.server,
        cluster: clusterOf(clusters, k.server),
        namespace: k.namespace,
        serviceAccount: k.serviceAccount,
      },
    });
  }
  for (const repository of role.github?.repositories ?? []) {
    out.push({ provider: 'github', id: repository, key: 'github.repositories', github: { repository } });
  }
  return out;
}

type Matcher = (value: string) => boolean;
interface Matchers {
  roleArn: Matcher;
  /** The `role_arns` patterns with no path, against an ARN with its path taken out. */
  roleName: Matcher;
  serviceAccount: Matcher;
  namespace: Matcher;
  kubernetesServiceAccount: Matcher;
  repository: Matcher;
}
/** Each scope's globs compiled once: a directory checks every role against every team's scope. */
const compiled = new WeakMap<ResourcesDoc, Matchers>();
const none: Matcher = () => false;
const any = (patterns: readonly string[] | undefined, foldCase: boolean): Matcher =>
  patterns && patterns.length > 0 ? compilePatterns(patterns, { foldCase }) : none;

function matchers(scope: ResourcesDoc): Matchers {
  let m = compiled.get(scope);
  if (!m) {
    m = {
      roleArn: any(scope.aws?.roleArns, true),
      roleName: any(
        scope.aws?.roleArns.filter((p) => !roleNameOf(p).includes('/')),
        true,
      ),
      serviceAccount: any(scope.gcp?.serviceAccounts, true),
      namespace: any(scope.kubernetes?.namespaces, false),
      kubernetesServiceAccount: any(scope.kubernetes?.serviceAccounts, false),
      repository: any(scope.github?.repositories, true),
    };
    compiled.set(scope, m);
  }
  return m;
}

/**
 * The account of `arn:aws:iam::111122223333:role/x`, as a scope's `accounts` names it:
 * `111122223333` in the `aws` partition, `aws-cn:111122223333` in another (its own account).
 */
export function accountOf(arn: string): string {
  const [, partition = '', , , account = ''] = arn.split(':');
  return partition === 'aws' ? account : `${partition}:${account}`;
}

/** `ci/web-x` of `arn:aws:iam::111122223333:role/ci/web-x` (the path and the name). */
function roleNameOf(arn: string): string {
  const at = arn.indexOf(':role/');
  return at < 0 ? '' : arn.slice(at + 6);
}

/** `arn:aws:iam::111122223333:role/web-x` of `…:role/ci/web-x`: the ARN with its path out. */
function withoutPath(arn: string): string {
  const at = arn.indexOf(':role/');
  return at < 0 ? arn : `${arn.slice(0, at + 6)}${arn.slice(arn.lastIndexOf('/') + 1)}`;
}

/**
 * The project a service account belongs to, when its email says so: `name@P.iam.…` and
 * `P@appspot.…`. The compute default (`N-compute@developer.…`) names a project number only.
 */
export function projectOf(email: string): string | undefined {
  const [local = '', domain = ''] = email.split('@');
  const iam = /^([a-z][a-z0-9-]*)\.iam\.gserviceaccount\.com$/.exec(domain);
  if (iam) return iam[1];
  return domain === 'appspot.gserviceaccount.com' ? local : undefined;
}

/**
 * What a scope can only hold resources under: an AWS account (and, for a role ARN glob, the
 * first letters of the role name), a GCP project (or service-account domain), a cluster, a
 * GitHub owner. A team scope's keys are literal (checked when read), so a directory looks up
 * the few teams that may hold a resource instead of asking every team.
 */
export function resourceKeys(g: Granted): string[] {
  if (g.aws) {
    const coarse = `aws ${g.aws.account}`;
    const keys = [coarse];
    // By the path and name, and by the name alone (a pathless pattern holds it so).
    for (const name of [roleNameOf(g.aws.arn), roleNameOf(withoutPath(g.aws.arn))]) {
      const key = `${coarse} ${name.toLowerCase().slice(0, PREFIX)}`;
      if (name.length >= PREFIX && !keys.includes(key)) keys.push(key);
    }
    return keys;
  }
  if (g.gcp) return [`gcp ${gcpKey(g.gcp.serviceAccount) ?? ''}`];
  if (g.kubernetes) return [`kubernetes ${g.kubernetes.cluster}`];
  return [`github ${(g.github?.repository.split('/')[0] ?? '').toLowerCase()}`];
}

/** Role-name letters an ARN glob's key takes: enough to tell teams' prefixes (`web-`, `pay`) apart. */
const PREFIX = 3;

/** The keys of a team scope; undefined when a glob leaves them open (then it is asked always). */
export function scopeKeys(scope: ResourcesDoc, clusters: ClusterNames): string[] | undefined {
  const keys: string[] = [];
  for (const a of scope.aws?.accounts ?? []) keys.push(`aws ${a}`);
  for (const p of scope.aws?.roleArns ?? []) {
    const account = accountOf(p);
    if (account.includes('*')) return undefined;
    const name = p.slice(p.indexOf(':role/') + 6).toLowerCase();
    const star = name.indexOf('*');
    const literal = star < 0 ? name : name.slice(0, star);
    keys.push(literal.length >= PREFIX ? `aws ${account} ${literal.slice(0, PREFIX)}` : `aws ${account}`);
  }
  for (const p of scope.gcp?.projects ?? []) keys.push(`gcp ${p}`);
  for (const p of scope.gcp?.serviceAccounts ?? []) {
    const key = gcpKey(p);
    if (key === undefined || key.includes('*')) return undefined;
    keys.push(`gcp ${key}`);
  }
  for (const c of scope.kubernetes?.clusters ?? []) keys.push(`kubernetes ${clusterOf(clusters, c)}`);
  if (scope.kubernetes && scope.kubernetes.clusters.length === 0) return undefined;
  for (const r of scope.github?.repositories ?? [])
    keys.push(`github ${(r.split('/')[0] ?? '').toLowerCase()}`);
  return keys;
}

/** A service account's project, else its domain (`developer.gserviceaccount.com`). */
function gcpKey(email: string): string | undefined {
  // Lower-cased: a scope's service-account globs match case-insensitively.
  const lower = email.toLowerCase();
  return projectOf(lower) ?? lower.split('@')[1];
}

/** Whether `scope` (a team's or shared scope, or a guardrail's selector) holds the resource. */
export function holds(scope: ResourcesDoc, g: Granted, clusters: ClusterNames): boolean {
  const m = matchers(scope);
  if (g.aws && scope.aws) {
    const { accounts, roleArns } = scope.aws;
    if (accounts.length === 0 && roleArns.length === 0) return true; // a selector's `aws: {}`
    return accounts.includes(g.aws.account) || m.roleArn(g.aws.arn) || m.roleName(withoutPath(g.aws.arn));
  }
  if (g.gcp && scope.gcp) {
    const sa = g.gcp.serviceAccount;
    const project = projectOf(sa);
    if (scope.gcp.projects.length === 0 && scope.gcp.serviceAccounts.length === 0) return true;
    return (project !== undefined && scope.gcp.projects.includes(project)) || m.serviceAccount(sa);
  }
  if (g.kubernetes && scope.kubernetes) {
    const s = scope.kubernetes;
    const k = g.kubernetes;
    return (
      (s.clusters.length === 0 || s.clusters.some((c) => clusterOf(clusters, c) === k.cluster)) &&
      (s.namespaces.length === 0 || m.namespace(k.namespace)) &&
      (s.serviceAccounts === undefined || m.kubernetesServiceAccount(k.serviceAccount))
    );
  }
  if (g.github && scope.github) {
    return scope.github.repositories.length === 0 || m.repository(g.github.repository);
  }
  return false;
}

const RANK: Record<Access, number> = { read: 1, write: 2, admin: 3 };

/** The role's permissions over a scope's caps: `contents: admin (at most write)`, or none. */
export function permissionsAbove(
  permissions: Readonly<Record<string, Access>>,
  caps: Readonly<Record<string, Access>> | undefined,
): string[] {
  const over: string[] = [];
  for (const [name, level] of Object.entries(permissions)) {
    const cap = caps?.[name];
    if (!cap) over.push(`${name}: ${level} (not granted to the team)`);
    else if (RANK[level] > RANK[cap]) over.push(`${name}: ${level} (at most ${cap})`);
  }
  return over;
}

/** Whether a GitHub role has some permission at `write` or above (`github: { write: true }`). */
export function writesAny(permissions: Readonly<Record<string, Access>>): boolean {
  return Object.values(permissions).some((level) => RANK[level] >= RANK.write);
}

/**
 * Privileged: every aws and gcp role — what the cloud role may do is decided in IAM, out of the
 * policy's sight — and a github role with any `write` or `admin` permission (one with only `read`
 * is not). Every kubernetes role too: what its service account may do is decided by RBAC. Read by
 * the lint and by guardrail selectors (`write:`).
 */
export function isPrivileged(role: RoleDoc): boolean {
  if (role.provider === 'github') {
    return Object.values(role.github?.permissions ?? {}).some((a) => a === 'write' || a === 'admin');
  }
  return role.provider === 'aws' || role.provider === 'gcp' || role.provider === 'kubernetes';
}

/**
 * A selector's `github.permissions`: the role has one of the permissions named at or above the
 * level given. Only those named: `contents: write` does not select `administration: admin`.
 */
export function permissionAtLeast(
  permissions: Readonly<Record<string, Access>>,
  wanted: Readonly<Record<string, Access>>,
): boolean {
  return Object.entries(wanted).some(([name, level]) => {
    const has = permissions[name];
    return has !== undefined && RANK[has] >= RANK[level];
  });
}

/** The role's Kubernetes audiences a scope does not list (the API server's own is always fine). */
export function audiencesOutside(audiences: readonly string[], scope: ResourcesDoc): string[] {
  const allowed = scope.kubernetes?.audiences ?? [];
  return audiences.filter((a) => !allowed.includes(a));
}

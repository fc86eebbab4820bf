/**
 * The CI systems whose OIDC tokens a policy issuer may be (`issuers[].kind`), and what each one's
 * own documentation says its tokens carry (docs/ci-systems.md cites the pages). Pure data: the
 * policy checks rules against it, the verifier takes its replay and lifetime rules from it, and
 * `ci-job.ts` names a job from it.
 */
import { CASE_INSENSITIVE_CLAIMS, CONDITION_CLAIMS } from './claims.js';

export const ISSUER_KINDS = ['github', 'gitlab', 'buildkite', 'circleci'] as const;
export type IssuerKind = (typeof ISSUER_KINDS)[number];

/**
 * How a claim's value is written in the token: `string`; `scalar`, a number or boolean the
 * documentation shows (`build_number: 1`, `ssh-rerun: false`), compared as its JSON text (`"1"`,
 * `"false"`); `list`, an array of strings, held when any element matches.
 */
export type ClaimForm = 'string' | 'scalar' | 'list';

export interface KindClaims {
  /** Display name, for messages. */
  title: string;
  /** Claims a rule may name directly, with their form. */
  claims: ReadonlyMap<string, ClaimForm>;
  /** Claims that say whose job it is: every allow rule needs one (reference.md §2, policy file, pins). */
  pins: readonly string[];
  /** Claims the job chooses whether to ask for: a token without one says nothing about it. */
  optional?: ReadonlySet<string>;
  /** Custom claims (a rule's `claims:`) the job chooses whether to ask for, by prefix. */
  optionalPrefixes?: readonly string[];
  /** Pins that are immutable ids: exact values only. */
  idPins: readonly string[];
  /** Compared with ASCII case folding: the system itself treats them case-insensitively. */
  foldCase: ReadonlySet<string>;
  /**
   * `jti`: the token carries a unique id (single use by it). `token`: it does not (Buildkite,
   * CircleCI), so the token is single use by the SHA-256 of its whole text.
   */
  replay: 'jti' | 'token';
  /** `exp - iat` accepted by default; `issuers[].max_token_lifetime` may raise it. */
  maxLifetimeSeconds: number;
}

const strings = (names: readonly string[], forms: Record<string, ClaimForm> = {}) =>
  new Map<string, ClaimForm>(names.map((n) => [n, forms[n] ?? 'string']));

/** CircleCI's own claims are namespaced: `oidc.circleci.com/project-id`. */
export const CIRCLECI = 'oidc.circleci.com/';

export const KINDS: Readonly<Record<IssuerKind, KindClaims>> = {
  github: {
    title: 'GitHub Actions',
    claims: strings(CONDITION_CLAIMS),
    pins: ['repository', 'repository_id', 'repository_owner', 'repository_owner_id'],
    idPins: ['repository_id', 'repository_owner_id'],
    foldCase: CASE_INSENSITIVE_CLAIMS,
    replay: 'jti',
    maxLifetimeSeconds: 15 * 60,
  },
  // GitLab "OpenID Connect (OIDC) Authentication Using ID Tokens", Token payload.
  gitlab: {
    title: 'GitLab CI/CD',
    claims: strings(
      [
        'sub',
        'project_path',
        'project_id',
        'namespace_path',
        'namespace_id',
        'project_visibility',
        'ref',
        'ref_type',
        'ref_path',
        'ref_protected',
        'environment',
        'environment_protected',
        'deployment_tier',
        'pipeline_source',
        'pipeline_id',
        'job_id',
        'user_login',
        'user_id',
        'user_email',
        'user_access_level',
        'sha',
        'ci_config_ref_uri',
        'ci_config_sha',
        'runner_id',
        'runner_environment',
        'groups_direct',
      ],
      { runner_id: 'scalar', groups_direct: 'list' },
    ),
    pins: ['project_path', 'project_id', 'namespace_path', 'namespace_id'],
    // Sent only where the instance turns on its `ci_jwt_groups_direct` feature flag (it made
    // tokens too large for some proxies), and only for a user in at most 200 groups directly.
    optional: new Set(['groups_direct']),
    idPins: ['project_id', 'namespace_id'],
    // GitLab resolves group, project and user paths case-insensitively.
    foldCase: new Set(['project_path', 'namespace_path', 'user_login']),
    replay: 'jti',
    // The token lives as long as the job's timeout (GitLab's default: 1 h).
    maxLifetimeSeconds: 60 * 60,
  },
  // Buildkite "buildkite-agent oidc", Claims and Optional claims.
  buildkite: {
    title: 'Buildkite',
    claims: strings(
      [
        'sub',
        'organization_slug',
        'organization_id',
        'pipeline_slug',
        'pipeline_id',
        'build_number',
        'build_id',
        'build_branch',
        'build_tag',
        'build_commit',
        'build_source',
        'step_key',
        'job_id',
        'agent_id',
        'runner_environment',
        'cluster_id',
        'cluster_name',
        'queue_id',
        'queue_key',
      ],
      { build_number: 'scalar' },
    ),
    // One issuer for every Buildkite organization: only the organization says whose job it is.
    pins: ['organization_slug', 'organization_id'],
    // `buildkite-agent oidc request-token --claim …` adds these only when the job asks.
    optional: new Set([
      'organization_id',
      'pipeline_id',
      'build_id',
      'cluster_id',
      'cluster_name',
      'queue_id',
      'queue_key',
    ]),
    // `--claim agent_tag:queue` (any agent tag) too: the job on the agent decides.
    optionalPrefixes: ['agent_tag:'],
    idPins: ['organization_id'],
    foldCase: new Set(),
    replay: 'token',
    maxLifetimeSeconds: 15 * 60,
  },
  // CircleCI "Using OpenID Connect tokens in jobs", Format of the OpenID Connect ID token.
  circleci: {
    title: 'CircleCI',
    claims: strings(
      [
        'sub',
        `${CIRCLECI}project-id`,
        `${CIRCLECI}context-ids`,
        `${CIRCLECI}vcs-origin`,
        `${CIRCLECI}vcs-ref`,
        `${CIRCLECI}ssh-rerun`,
      ],
      { [`${CIRCLECI}context-ids`]: 'list', [`${CIRCLECI}ssh-rerun`]: 'scalar' },
    ),
    // The issuer is the organization's own; the project (or the repository) says which job.
    pins: [`${CIRCLECI}project-id`, `${CIRCLECI}vcs-origin`],
    idPins: [`${CIRCLECI}project-id`],
    foldCase: new Set(),
    replay: 'token',
    // CircleCI: "one hour after the time of issuance".
    maxLifetimeSeconds: 60 * 60,
  },
};

/** Whether a kind's tokens carry the claim only when the job asks (or the system chooses). */
export function isOptionalClaim(kind: KindClaims, claim: string): boolean {
  return kind.optional?.has(claim) === true || (kind.optionalPrefixes ?? []).some((p) => claim.startsWith(p));
}

/** Every claim name some kind's rules may name directly. */
export const ALL_KIND_CLAIMS: readonly string[] = [
  ...new Set(ISSUER_KINDS.flatMap((k) => [...KINDS[k].claims.keys()])),
];

/** An issuer's kind as the policy configures it: `kind:` when written, else GitHub's. */
export function kindOf(issuer: { kind?: IssuerKind | undefined }): IssuerKind {
  return issuer.kind ?? 'github';
}

/**
 * The issuer whose Actions runs the GitHub App's API answers for: `JITKEY_GITHUB_ISSUER` when set
 * (and a `github` issuer of the policy), else the policy's one `github` issuer. With two (github.com
 * and a GHES) and none named, none: a token of either names runs, people and environments that the
 * App's one API host would be asked about, so what acts on GitHub's word (break-glass, on-call,
 * the deployment gate, `require_protected_environment`) acts for neither.
 */
export function appGithubIssuer(
  issuers: readonly { url: string; kind?: IssuerKind | undefined }[],
  configured: string | undefined,
): string | undefined {
  const github = issuers.filter((i) => kindOf(i) === 'github').map((i) => i.url);
  if (configured !== undefined) return github.includes(configured) ? configured : undefined;
  return github.length === 1 ? github[0] : undefined;
}

export function isIssuerKind(value: string): value is IssuerKind {
  return (ISSUER_KINDS as readonly string[]).includes(value);
}

/**
 * Whether `pattern` as a `claim` pin names someone: an id pin must be exact; a path pin must name
 * its first segment (GitLab's top-level group, a repository host and owner for CircleCI's
 * vcs-origin); a slug must be exact.
 */
export function pinsSomeone(kind: IssuerKind, claim: string, pattern: string): boolean {
  if (KINDS[kind].idPins.includes(claim) || claim === 'organization_slug') return !pattern.includes('*');
  const segments = claim === `${CIRCLECI}vcs-origin` ? 2 : 1;
  const head = pattern.split('/').slice(0, segments);
  return head.length === segments && !head.some((s) => s.includes('*'));
}

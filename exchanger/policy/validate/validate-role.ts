/** One role: provider, durations, guards (`require_protected_environment`, `approval`) and rules. */
import { isMap, isScalar, type Node } from 'yaml';
import { formatDuration } from '../../duration.js';
import { kubernetesActionProblem } from '../model/kubernetes-actions.js';
import { didYouMean } from '../model/suggest.js';
import type { ApprovalConfig, ProviderName, SourcePosition } from '../model/types.js';
import type { PatternDoc, RoleDoc } from './doc.js';
import { APPROVAL_KEYS, BREAK_GLASS_KEYS, PROVIDERS, ROLE_KEYS } from './keys.js';
import type { Field, Reader } from './read.js';
import { readKubernetes } from './validate-kubernetes.js';
import { readNotify } from './validate-notify.js';
import { readNudges } from './validate-nudge.js';
import { readOnCall } from './validate-on-call.js';
import { checkPins, PERSON, pinProblem, readApprovers } from './validate-people.js';
import { readAws, readGcp, readGithub } from './validate-provider.js';
import { readRules } from './validate-rules.js';
import { readChatDecisions } from './validate-slack.js';

const ROLE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HOUR = 3600;
/** The longest credential each provider can issue. GitHub installation tokens always last 1 h. */
const PROVIDER_MAX: Record<ProviderName, number> = {
  aws: 12 * HOUR,
  gcp: 12 * HOUR,
  github: HOUR,
  kubernetes: 12 * HOUR,
};
/**
 * AWS's shortest lease: STS issues 900 s at least, and a session-policy Deny ends a shorter lease
 * (`providers/aws-lease-end.ts`) — down to a minute, not below (reference.md §5, refresh).
 */
export const AWS_MIN_LEASE_SECONDS = 60;
const PROVIDER_LIMIT: Record<ProviderName, string> = {
  aws: 'AWS issues (12h at most)',
  gcp: 'GCP issues (12h at most)',
  github: 'GitHub issues (installation tokens last 1h)',
  // Not a Kubernetes limit: a job's credential should not outlive a working day.
  kubernetes: 'jitkey issues for Kubernetes (12h at most)',
};
const DEFAULT_APPROVAL_TIMEOUT = 30 * 60;

export interface Defaults {
  durationSeconds: number;
  maxDurationSeconds: number;
}

export function readRole(r: Reader, entry: Field, defaults: Defaults): RoleDoc | undefined {
  const name = entry.name;
  const path = `roles.${name}`;
  if (!ROLE_NAME.test(name)) {
    r.error(entry.key, `role name '${name}' may hold only letters, digits, '.', '_' and '-' (at most 64)`);
  }
  const f = r.fields(entry.value, ROLE_KEYS, path, entry.key);
  if (!f) return undefined;
  const role: RoleDoc = {
    name,
    position: r.pos(entry.key),
    durationSeconds: defaults.durationSeconds,
    maxDurationSeconds: defaults.maxDurationSeconds,
    requireProtectedEnvironment: false,
    allow: readRules(r, f.get('allow'), 'allow', path),
    deny: readRules(r, f.get('deny'), 'deny', path),
  };
  const description = f.get('description');
  if (description) role.description = r.string(description, `${path}.description`);
  readProvider(r, f, path, entry, role);
  readDurations(r, f, path, entry, role, defaults);
  const protectedEnv = f.get('require_protected_environment');
  if (protectedEnv) {
    role.requireProtectedEnvironment =
      r.boolean(protectedEnv, `${path}.require_protected_environment`) ?? false;
  }
  const approval = f.get('approval');
  if (approval) role.approval = readApproval(r, approval, `${path}.approval`);
  const issuers = f.get('issuers');
  if (issuers) role.issuers = readIssuerUrls(r, issuers, `${path}.issuers`);
  const forbid = f.get('forbid_actions');
  if (forbid) role.forbidActions = readForbidActions(r, forbid, `${path}.forbid_actions`, role.provider);
  return role;
}

/** `service:Action`, the action part a name or a glob ending in `*` (`iam:CreateUser`, `s3:Delete*`). */
const AWS_ACTION = /^[a-z0-9-]+:[A-Za-z0-9]*\*?$/;

function readForbidActions(
  r: Reader,
  field: Field,
  path: string,
  provider: ProviderName | undefined,
): string[] {
  if (provider !== undefined && provider !== 'aws' && provider !== 'kubernetes') {
    r.error(
      field.key,
      `${path}: only aws and kubernetes roles can forbid actions yet (their activity is read from CloudTrail and the Kubernetes audit webhook)`,
    );
    return [];
  }
  const out: string[] = [];
  for (const { value, node } of r.strings(field, path, { nonEmpty: true })) {
    if (provider === 'kubernetes') {
      const problem = kubernetesActionProblem(value);
      if (problem) {
        r.error(
          node,
          `${path}: '${value}' is not a Kubernetes action: ${problem}; write VERB RESOURCE, e.g. "delete secrets", "create clusterrolebindings.rbac.authorization.k8s.io" or "* pods/exec"`,
        );
      } else out.push(value);
    } else if (!AWS_ACTION.test(value) || value.endsWith(':')) {
      r.error(
        node,
        `${path}: '${value}' is not an AWS action: write service:Action, e.g. iam:CreateUser or s3:Delete*`,
      );
    } else out.push(value);
  }
  return out;
}

function readProvider(r: Reader, f: Map<string, Field>, path: string, entry: Field, role: RoleDoc): void {
  const field = r.require(f, 'provider', path, entry.key);
  const value = field && r.string(field, `${path}.provider`);
  if (value !== undefined && !(PROVIDERS as readonly string[]).includes(value)) {
    r.error(
      field?.value,
      `${path}.provider: '${value}' must be ${PROVIDERS.slice(0, -1).join(', ')} or ${PROVIDERS.at(-1)}${didYouMean(value, PROVIDERS)}`,
    );
  }
  const provider = PROVIDERS.find((p) => p === value);
  if (provider) role.provider = provider;
  if (field?.value) role.providerPosition = r.pos(field.value);
  for (const p of PROVIDERS) {
    const block = f.get(p);
    if (block && provider && p !== provider) {
      r.error(block.key, `${path}.${p}: this role's provider is '${provider}'; remove the ${p} block`);
    }
  }
  if (!provider) return;
  const block = f.get(provider);
  if (!block) {
    r.error(
      field?.value,
      `${path}: provider '${provider}' needs ${provider === 'aws' ? 'an' : 'a'} '${provider}:' block`,
    );
    return;
  }
  const blockPath = `${path}.${provider}`;
  role.resourcePosition = resourcePosition(r, block, provider);
  if (provider === 'aws') role.aws = readAws(r, block, blockPath);
  else if (provider === 'gcp') role.gcp = readGcp(r, block, blockPath);
  else if (provider === 'github') role.github = readGithub(r, block, blockPath);
  else role.kubernetes = readKubernetes(r, block, blockPath);
}

/** The key in a provider block that names what the role grants, for ownership errors. */
const RESOURCE_KEY: Record<ProviderName, string> = {
  aws: 'role_arn',
  gcp: 'service_account',
  kubernetes: 'namespace',
  github: 'repositories',
};

function resourcePosition(r: Reader, block: Field, provider: ProviderName): SourcePosition {
  const map = block.value;
  const pair =
    map && isMap(map)
      ? map.items.find((p) => isScalar(p.key) && p.key.value === RESOURCE_KEY[provider])
      : undefined;
  return r.pos((pair?.value as Node | undefined) ?? block.key);
}

/**
 * A role's `max_duration` defaults to `defaults.max_duration`; its `duration` to
 * `defaults.duration`, lowered to the role's max when that is smaller. An explicit `duration`
 * above the role's max is an error.
 */
function readDurations(
  r: Reader,
  f: Map<string, Field>,
  path: string,
  entry: Field,
  role: RoleDoc,
  defaults: Defaults,
): void {
  const maxField = f.get('max_duration');
  const durField = f.get('duration');
  const max = maxField ? r.duration(maxField, `${path}.max_duration`) : undefined;
  const dur = durField ? r.duration(durField, `${path}.duration`) : undefined;
  role.maxDurationSeconds = max ?? defaults.maxDurationSeconds;
  if (maxField?.value) role.maxDurationPosition = r.pos(maxField.value);
  role.durationSeconds = dur ?? Math.min(defaults.durationSeconds, role.maxDurationSeconds);
  if (dur !== undefined && dur > role.maxDurationSeconds) {
    r.error(
      durField?.value,
      `${path}.duration (${formatDuration(dur)}) is above the role's max_duration (${formatDuration(role.maxDurationSeconds)})`,
    );
  }
  const at = maxField?.value ?? entry.key;
  const provider = role.provider;
  if (!provider) return;
  const m = `${path}.max_duration: ${formatDuration(role.maxDurationSeconds)}`;
  if (provider === 'aws' && role.durationSeconds < AWS_MIN_LEASE_SECONDS) {
    r.error(
      durField?.value ?? at,
      `${path}.duration: ${formatDuration(role.durationSeconds)} is shorter than an AWS lease can be (1m): set duration (and max_duration) to 1m or more`,
    );
  }
  if (role.maxDurationSeconds > PROVIDER_MAX[provider]) {
    r.error(at, `${m} is more than ${PROVIDER_LIMIT[provider]}`);
  } else if (provider === 'gcp' && role.maxDurationSeconds > HOUR && !role.gcp?.allowExtendedLifetime) {
    r.error(
      at,
      `${m} is over GCP's 1h: set gcp.allow_extended_lifetime: true (GCP also needs the ` +
        'org policy constraints/iam.allowServiceAccountCredentialLifetimeExtension)',
    );
  }
}

/** Issuer urls as listed; whether the policy trusts them is checked once every issuer is read. */
export function readIssuerUrls(r: Reader, field: Field, path: string): PatternDoc[] {
  const out: PatternDoc[] = [];
  for (const s of r.strings(field, path, { nonEmpty: true })) {
    if (out.some((o) => o.value === s.value)) r.error(s.node, `${path}: '${s.value}' is listed twice`);
    else out.push({ value: s.value, position: r.pos(s.node) });
  }
  return out;
}

function readApproval(r: Reader, field: Field, path: string): ApprovalConfig | undefined {
  const f = r.fields(field.value, APPROVAL_KEYS, path, field.key);
  if (!f) return undefined;
  const out: ApprovalConfig = { approvers: [], required: 1, timeoutSeconds: DEFAULT_APPROVAL_TIMEOUT };
  out.approvers = readApprovers(r, r.require(f, 'approvers', path, field.key), `${path}.approvers`);
  const required = f.get('required');
  if (required) {
    const n = r.integer(required, `${path}.required`);
    if (n !== undefined && n < 1) r.error(required.value, `${path}.required must be at least 1`);
    else if (n !== undefined) {
      out.required = n;
      const teams = out.approvers.some((a) => a.includes('/'));
      if (!teams && out.approvers.length > 0 && n > out.approvers.length) {
        r.error(
          required.value,
          `${path}.required is ${n} but only ${out.approvers.length} approver(s) are listed: no request could be approved`,
        );
      }
    }
  }
  const timeout = f.get('timeout');
  if (timeout) out.timeoutSeconds = r.duration(timeout, `${path}.timeout`) ?? DEFAULT_APPROVAL_TIMEOUT;
  const notify = f.get('notify');
  if (notify) readNotify(r, notify, `${path}.notify`, out);
  const gate = f.get('gate');
  if (gate && r.boolean(gate, `${path}.gate`)) out.gate = true;
  const breakGlass = f.get('break_glass');
  if (breakGlass) readBreakGlass(r, breakGlass, `${path}.break_glass`, out);
  readChatDecisions(r, f, path, out);
  readNudges(r, f, path, out);
  readOnCall(r, f, path, out);
  return out;
}

function readBreakGlass(r: Reader, field: Field, path: string, out: ApprovalConfig): void {
  const f = r.fields(field.value, BREAK_GLASS_KEYS, path, field.key);
  if (!f) return;
  const allowed: string[] = [];
  const list = r.require(f, 'allowed', path, field.key);
  const listed = list ? r.strings(list, `${path}.allowed`, { nonEmpty: true }) : [];
  checkPins(r, listed, `${path}.allowed`);
  for (const a of listed) {
    if (PERSON.test(a.value)) allowed.push(a.value);
    else
      r.error(
        a.node,
        pinProblem(a.value, `${path}.allowed`) ??
          `${path}.allowed: '${a.value}' is not a GitHub login (teams are not taken here)`,
      );
  }
  let reviewsRequired = 1;
  const n = f.get('reviews_required');
  if (n) {
    const v = r.integer(n, `${path}.reviews_required`);
    if (v !== undefined && v < 1) r.error(n.value, `${path}.reviews_required must be at least 1`);
    else if (v !== undefined) reviewsRequired = v;
  }
  if (allowed.length) out.breakGlass = { allowed, reviewsRequired };
}

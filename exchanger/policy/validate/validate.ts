/**
 * Strict validation of a parsed policy (reference.md §2, policy file): unknown keys, wrong types, missing
 * required fields. Every problem is collected with its position; the returned document is
 * usable for lint even when there were errors, but only an issue-free one may be compiled.
 */
import { isScalar, isSeq, type Node } from 'yaml';
import { formatDuration } from '../../duration.js';
import type { PolicyIssue } from '../model/errors.js';
import type { IssuerConfig, SlackUser } from '../model/types.js';
import type { AdminsDoc, PolicyDoc } from './doc.js';
import { checkRoleKinds, readIssuerKind } from './issuer-kinds.js';
import { DEFAULTS_KEYS, ISSUER_KEYS, POLICY_KEYS } from './keys.js';
import type { ParsedPolicy } from './parse.js';
import { type Field, Reader, sourceText } from './read.js';
import { checkRoleIssuers } from './role-issuers.js';
import { noAdmins, readAdmins } from './validate-admins.js';
import { type Defaults, readRole } from './validate-role.js';
import { readSlackUsers } from './validate-slack.js';

export const DEFAULT_DURATION = 15 * 60;
export const DEFAULT_MAX_DURATION = 60 * 60;

export function validatePolicy(parsed: ParsedPolicy): { doc: PolicyDoc; issues: PolicyIssue[] } {
  const r = new Reader(parsed);
  const doc: PolicyDoc = {
    file: parsed.file,
    issuers: [],
    defaults: defaultDurations(),
    admins: noAdmins(),
    roles: [],
  };
  const root = r.node(parsed.doc.contents);
  if (!root) {
    r.error({ line: 1, col: 1 }, 'the policy is empty: it needs version, issuers and roles');
    return { doc, issues: r.issues };
  }
  const f = r.fields(root, POLICY_KEYS, 'the policy');
  if (!f) return { doc, issues: r.issues };
  readHead(r, f, 'the policy', root, doc);
  const roles = r.require(f, 'roles', 'the policy', root);
  const entries = roles ? r.entries(roles.value, 'roles', roles.key) : undefined;
  if (roles && entries?.length === 0) r.error(roles.value, 'roles is empty: define at least one role');
  for (const entry of entries ?? []) {
    const role = readRole(r, entry, doc.defaults);
    if (role) doc.roles.push(role);
  }
  const trusted = doc.issuers.map((i) => i.url);
  for (const role of doc.roles) {
    checkRoleIssuers(role, trusted, (at, message) => r.error(at, message));
    checkRoleKinds(role, doc.issuers, (at, message) => r.error(at, message));
  }
  return { doc, issues: r.issues };
}

export const defaultDurations = (): Defaults => ({
  durationSeconds: DEFAULT_DURATION,
  maxDurationSeconds: DEFAULT_MAX_DURATION,
});

/** What a single-file policy and org.yaml both begin with: version, issuers, defaults, admins, slack_users. */
export function readHead(
  r: Reader,
  f: Map<string, Field>,
  path: string,
  root: Node,
  into: {
    issuers: IssuerConfig[];
    defaults: Defaults;
    admins: AdminsDoc;
    slackUsers?: Map<string, SlackUser>;
  },
): void {
  readVersion(r, f, path, root);
  const issuers = r.require(f, 'issuers', path, root);
  if (issuers) into.issuers = readIssuers(r, issuers);
  const defaults = f.get('defaults');
  if (defaults) into.defaults = readDefaults(r, defaults);
  const admins = f.get('admins');
  if (admins) into.admins = readAdmins(r, admins);
  const slackUsers = f.get('slack_users');
  if (slackUsers) into.slackUsers = readSlackUsers(r, slackUsers);
}

export function readVersion(r: Reader, f: Map<string, Field>, path: string, root: Node): void {
  const version = r.require(f, 'version', path, root);
  if (version?.value && !(isScalar(version.value) && version.value.value === 1)) {
    const v = version.value;
    const got = isScalar(v) && typeof v.value === 'string' ? `the string '${v.value}'` : sourceText(v);
    r.error(v, `version must be the number 1, not ${got}`);
  }
}

export function readIssuers(r: Reader, field: Field): IssuerConfig[] {
  const list = field.value;
  if (!list || !isSeq(list)) {
    r.error(r.at(field), 'issuers must be a list of { url, audience }');
    return [];
  }
  if (list.items.length === 0) r.error(list, 'issuers must not be empty');
  const out: IssuerConfig[] = [];
  list.items.forEach((item, i) => {
    const path = `issuers[${i}]`;
    const node = r.node(item);
    const f = r.fields(node, ISSUER_KEYS, path, list);
    if (!f) return;
    const urlField = r.require(f, 'url', path, node);
    const url = urlField && r.url(urlField, `${path}.url`);
    const audField = r.require(f, 'audience', path, node);
    const audience = audField && r.string(audField, `${path}.audience`);
    const kind = readIssuerKind(r, f, path);
    if (url !== undefined && out.some((o) => o.url === url)) {
      r.error(urlField?.value, `${path}.url: '${url}' is listed twice`);
    } else if (url !== undefined && audience !== undefined) out.push({ url, audience, ...kind });
  });
  return out;
}

export function readDefaults(r: Reader, field: Field): Defaults {
  const out = { durationSeconds: DEFAULT_DURATION, maxDurationSeconds: DEFAULT_MAX_DURATION };
  const f = r.fields(field.value, DEFAULTS_KEYS, 'defaults', field.key);
  if (!f) return out;
  const dur = f.get('duration');
  const max = f.get('max_duration');
  out.durationSeconds = (dur && r.duration(dur, 'defaults.duration')) ?? out.durationSeconds;
  out.maxDurationSeconds = (max && r.duration(max, 'defaults.max_duration')) ?? out.maxDurationSeconds;
  if (out.durationSeconds > out.maxDurationSeconds) {
    r.error(
      (dur ?? max)?.value,
      `defaults.duration (${formatDuration(out.durationSeconds)}) is above defaults.max_duration ` +
        `(${formatDuration(out.maxDurationSeconds)})`,
    );
  }
  return out;
}

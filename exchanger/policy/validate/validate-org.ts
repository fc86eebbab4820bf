/**
 * `org.yaml` of a policy directory: issuers and defaults (as in a single-file policy), the
 * ceilings no team file may exceed, per-team limits, and guardrails (deny rules the platform
 * team applies to every role they select, before the role's own rules).
 */
import { isSeq } from 'yaml';
import { formatDuration } from '../../duration.js';
import type { PolicyIssue } from '../model/errors.js';
import { didYouMean } from '../model/suggest.js';
import type { ProviderName } from '../model/types.js';
import type { GuardrailDoc, OrgDoc, SelectorDoc, SharedDoc, TeamLimitsDoc } from './doc.js';
import {
  CEILING_KEYS,
  GUARDRAIL_KEYS,
  ORG_KEYS,
  PROVIDERS,
  RESOURCE_KEYS,
  SELECTOR_KEYS,
  SHARED_KEYS,
  TEAM_LIMIT_KEYS,
} from './keys.js';
import type { ParsedPolicy } from './parse.js';
import { type Field, Reader } from './read.js';
import { type ClusterNames, readResourceFields, readScope } from './resources.js';
import { defaultDurations, readHead } from './validate.js';
import { noAdmins } from './validate-admins.js';
import { readIssuerUrls } from './validate-role.js';
import { readRules } from './validate-rules.js';

/** Guardrail and team names: what a file name or a log line can carry without quoting. */
export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function validateOrg(
  parsed: ParsedPolicy,
  clusters: ClusterNames,
): { org: OrgDoc; issues: PolicyIssue[] } {
  const r = new Reader(parsed);
  const org: OrgDoc = {
    file: parsed.file,
    issuers: [],
    defaults: defaultDurations(),
    admins: noAdmins(),
    ceilings: {},
    teams: new Map(),
    shared: [],
    guardrails: [],
    clusters,
  };
  const root = r.node(parsed.doc.contents);
  if (!root) {
    r.error({ line: 1, col: 1 }, 'org.yaml is empty: it needs version and issuers');
    return { org, issues: r.issues };
  }
  const f = r.fields(root, ORG_KEYS, 'org.yaml', undefined, '; roles belong in team files, not in org.yaml');
  if (!f) return { org, issues: r.issues };
  readHead(r, f, 'org.yaml', root, org);
  const ceilings = f.get('ceilings');
  if (ceilings) readCeilings(r, ceilings, org);
  const teams = f.get('teams');
  if (teams) readTeams(r, teams, org);
  const shared = f.get('shared');
  if (shared) org.shared = readShared(r, shared);
  const guardrails = f.get('guardrails');
  if (guardrails) org.guardrails = readGuardrails(r, guardrails);
  checkGuardrailIssuers(r, org);
  return { org, issues: r.issues };
}

function readProviders(r: Reader, field: Field, path: string): ProviderName[] {
  const out: ProviderName[] = [];
  for (const p of r.strings(field, path, { nonEmpty: true })) {
    const known = PROVIDERS.find((x) => x === p.value);
    if (known) out.push(known);
    else {
      const help = didYouMean(p.value, PROVIDERS) || `; expected one of: ${PROVIDERS.join(', ')}`;
      r.error(p.node, `${path}: '${p.value}' is not a provider${help}`);
    }
  }
  return out;
}

function readCeilings(r: Reader, field: Field, org: OrgDoc): void {
  const f = r.fields(field.value, CEILING_KEYS, 'ceilings', field.key);
  if (!f) return;
  const max = f.get('max_duration');
  const seconds = max && r.duration(max, 'ceilings.max_duration');
  if (max && seconds !== undefined) {
    org.ceilings.maxDurationSeconds = seconds;
    if (org.defaults.maxDurationSeconds > seconds) {
      r.error(
        max.value,
        `ceilings.max_duration (${formatDuration(seconds)}) is below defaults.max_duration ` +
          `(${formatDuration(org.defaults.maxDurationSeconds)}): lower the default`,
      );
    }
  }
  const providers = f.get('providers');
  if (providers) org.ceilings.providers = readProviders(r, providers, 'ceilings.providers');
}

function readTeams(r: Reader, field: Field, org: OrgDoc): void {
  for (const entry of r.entries(field.value, 'teams', field.key) ?? []) {
    const path = `teams.${entry.name}`;
    if (!NAME.test(entry.name)) r.error(entry.key, `${path}: a team name is its file name without .yaml`);
    const f = r.fields(entry.value, TEAM_LIMIT_KEYS, path, entry.key);
    if (!f) continue;
    const limits: TeamLimitsDoc = { position: r.pos(entry.key) };
    const max = f.get('max_duration');
    const seconds = max && r.duration(max, `${path}.max_duration`);
    if (max && seconds !== undefined) {
      const ceiling = org.ceilings.maxDurationSeconds;
      if (ceiling !== undefined && seconds > ceiling) {
        r.error(
          max.value,
          `${path}.max_duration (${formatDuration(seconds)}) is above ceilings.max_duration (${formatDuration(ceiling)})`,
        );
      } else limits.maxDurationSeconds = seconds;
    }
    const providers = f.get('providers');
    if (providers) {
      const list = readProviders(r, providers, `${path}.providers`);
      const allowed = org.ceilings.providers;
      const over = allowed ? list.filter((p) => !allowed.includes(p)) : [];
      if (over.length > 0) {
        r.error(providers.value, `${path}.providers: ${over.join(', ')} not in ceilings.providers`);
      }
      limits.providers = list;
    }
    const issuers = f.get('issuers');
    if (issuers) {
      const trusted = org.issuers.map((i) => i.url);
      limits.issuers = [];
      for (const i of readIssuerUrls(r, issuers, `${path}.issuers`)) {
        if (trusted.includes(i.value)) limits.issuers.push(i.value);
        else {
          r.error(
            i.position,
            `${path}.issuers: '${i.value}' is not one of the issuers above (${trusted.join(', ')}); name a url listed under issuers`,
          );
        }
      }
    }
    const resources = f.get('resources');
    if (resources) limits.resources = readScope(r, resources, `${path}.resources`);
    org.teams.set(entry.name, limits);
  }
}

/** `shared: [{ teams: [a, b], resources: {…} }]`: resources these teams may all grant. */
function readShared(r: Reader, field: Field): SharedDoc[] {
  const list = field.value;
  if (!list || !isSeq(list)) {
    r.error(r.at(field), 'shared must be a list of { teams, resources }');
    return [];
  }
  const out: SharedDoc[] = [];
  list.items.forEach((item, i) => {
    const path = `shared[${i}]`;
    const node = r.node(item);
    const f = r.fields(node, SHARED_KEYS, path, list);
    if (!f || !node) return;
    const teamsField = r.require(f, 'teams', path, node);
    const teams = teamsField
      ? r.strings(teamsField, `${path}.teams`, { nonEmpty: true }).map((s) => s.value)
      : [];
    if (teamsField && new Set(teams).size < 2) {
      r.error(
        teamsField.value,
        `${path}.teams: name at least two teams (one team's resources go under teams.<name>.resources)`,
      );
    }
    const resources = r.require(f, 'resources', path, node);
    if (resources)
      out.push({ teams, resources: readScope(r, resources, `${path}.resources`), position: r.pos(node) });
  });
  return out;
}

/**
 * A guardrail rule's `issuer:` names an issuer of `issuers` exactly: a rule scoped to a url no
 * token has (a typo, a trailing slash) would hold for nothing, and the guardrail would be gone.
 */
function checkGuardrailIssuers(r: Reader, org: OrgDoc): void {
  const urls = org.issuers.map((i) => i.url);
  for (const g of org.guardrails) {
    for (const rule of g.deny) {
      const url = rule.issuer?.value;
      if (url === undefined || urls.includes(url)) continue;
      r.error(
        rule.issuer!.position,
        `guardrails.${g.name}.deny[${rule.index}].issuer: '${url}' is not one of the issuers, so the ` +
          `rule would never hold${didYouMean(url, urls)}`,
      );
    }
  }
}

function readGuardrails(r: Reader, field: Field): GuardrailDoc[] {
  const list = field.value;
  if (!list || !isSeq(list)) {
    r.error(r.at(field), 'guardrails must be a list of { name, applies_to, deny }');
    return [];
  }
  const out: GuardrailDoc[] = [];
  list.items.forEach((item, i) => {
    const node = r.node(item);
    const f = r.fields(node, GUARDRAIL_KEYS, `guardrails[${i}]`, list);
    if (!f || !node) return;
    const nameField = r.require(f, 'name', `guardrails[${i}]`, node);
    const name = nameField && r.string(nameField, `guardrails[${i}].name`);
    if (name !== undefined && !NAME.test(name)) {
      r.error(
        nameField?.value,
        `guardrails[${i}].name '${name}' may hold only letters, digits, '.', '_' and '-'`,
      );
    }
    const path = `guardrails.${name ?? i}`;
    const twin = out.find((g) => g.name === name);
    if (twin)
      r.error(nameField?.value, `${path}: the name is used twice (also at line ${twin.position.line})`);
    const deny = r.require(f, 'deny', path, node);
    const rules = readRules(r, deny, 'deny', path);
    if (deny?.value && isSeq(deny.value) && deny.value.items.length === 0) {
      r.error(deny.value, `${path}.deny is empty: a guardrail needs at least one deny rule`);
    }
    const guardrail: GuardrailDoc = {
      name: name ?? `#${i}`,
      file: r.file,
      position: r.pos(node),
      appliesTo: readSelector(r, f.get('applies_to'), `${path}.applies_to`),
      deny: rules,
    };
    const description = f.get('description');
    if (description) guardrail.description = r.string(description, `${path}.description`);
    out.push(guardrail);
  });
  return out;
}

function readSelector(r: Reader, field: Field | undefined, path: string): SelectorDoc {
  if (!field) return {};
  const f = r.fields(field.value, SELECTOR_KEYS, path, field.key);
  const out: SelectorDoc = {};
  if (!f) return out;
  const roles = f.get('roles');
  if (roles) out.roles = r.strings(roles, `${path}.roles`, { nonEmpty: true }).map((s) => s.value);
  const providers = f.get('providers');
  if (providers) out.providers = readProviders(r, providers, `${path}.providers`);
  const teams = f.get('teams');
  if (teams) out.teams = r.strings(teams, `${path}.teams`, { nonEmpty: true }).map((s) => s.value);
  const write = f.get('write');
  if (write) {
    const w = r.boolean(write, `${path}.write`);
    if (w !== undefined) out.write = w;
  }
  if (RESOURCE_KEYS.some((k) => f.has(k))) {
    out.resources = readResourceFields(r, f, path, 'selector', r.pos(field.key));
  }
  return out;
}

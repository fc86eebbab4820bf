/** The provider blocks of a role: `aws`, `gcp`, `github` (reference.md §2, policy file). */
import { isMap } from 'yaml';
import { ALL_KIND_CLAIMS } from '../../ci-kinds.js';
import { urlRefusal } from '../../net/url-rule.js';
import { didYouMean } from '../model/suggest.js';
import type { AwsRoleConfig, GcpRoleConfig } from '../model/types.js';
import type { GithubRoleDoc } from './doc.js';
import { AWS_KEYS, GCP_KEYS, GITHUB_KEYS } from './keys.js';
import type { Field, Reader } from './read.js';
import { readPermissions } from './validate-permissions.js';

const ROLE_ARN = /^arn:aws(-cn|-us-gov)?:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const AWS_TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
/** AWS refuses packed session policies over 2,048 characters. */
const SESSION_POLICY_MAX = 2048;
const SERVICE_ACCOUNT =
  /^[a-z0-9][a-z0-9-]{0,62}@(?:[a-z][a-z0-9.-]{0,61}[a-z0-9]\.iam|developer|appspot)\.gserviceaccount\.com$/;
const REPOSITORY = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/;
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const CLAIM_SET: ReadonlySet<string> = new Set(ALL_KIND_CLAIMS);

export function readAws(r: Reader, block: Field, path: string): AwsRoleConfig | undefined {
  const f = r.fields(block.value, AWS_KEYS, path, block.key);
  if (!f) return undefined;
  const arnField = r.require(f, 'role_arn', path, block.key);
  const roleArn = arnField && r.string(arnField, `${path}.role_arn`);
  if (roleArn !== undefined && !ROLE_ARN.test(roleArn)) {
    r.error(
      arnField?.value,
      `${path}.role_arn: '${roleArn}' is not a role ARN like arn:aws:iam::111122223333:role/name`,
    );
  }
  const out: AwsRoleConfig = { roleArn: roleArn ?? '' };
  const regionField = f.get('region');
  if (regionField) {
    const region = r.string(regionField, `${path}.region`);
    if (region !== undefined && !AWS_REGION.test(region)) {
      r.error(regionField.value, `${path}.region: '${region}' is not an AWS region like us-east-1`);
    } else if (region !== undefined) out.region = region;
  }
  const policyField = f.get('session_policy');
  if (policyField) {
    const n = policyField.value;
    if (!n || !isMap(n))
      r.error(r.at(policyField), `${path}.session_policy must be a map (an IAM policy document)`);
    else {
      const doc = r.toJS(n) as Record<string, unknown>;
      if (JSON.stringify(doc).length > SESSION_POLICY_MAX) {
        r.error(n, `${path}.session_policy is over AWS's limit of ${SESSION_POLICY_MAX} characters as JSON`);
      }
      out.sessionPolicy = doc;
    }
  }
  const tagsField = f.get('session_tags');
  if (tagsField) out.sessionTags = readTags(r, tagsField, `${path}.session_tags`);
  return out;
}

function readTags(r: Reader, field: Field, path: string): Record<string, string> {
  // Entries, then fromEntries: a tag named `__proto__` stays an own property.
  const tags: [string, string][] = [];
  const entries = r.entries(field.value, path, field.key) ?? [];
  if (entries.length > 50) r.error(field.value, `${path}: AWS accepts at most 50 session tags`);
  for (const e of entries) {
    if (!AWS_TAG_KEY.test(e.name)) {
      r.error(
        e.key,
        `${path}: '${e.name}' is not a valid AWS tag key (1–128 letters, digits, spaces and _.:/=+-@)`,
      );
    }
    const template = r.string(e, `${path}.${e.name}`);
    if (template === undefined) continue;
    const problem = templateProblem(template);
    if (problem) r.error(e.value, `${path}.${e.name}: ${problem}`);
    else tags.push([e.name, template]);
  }
  return Object.fromEntries(tags);
}

/** `${claim}` references must be closed and name a known claim. */
export function templateProblem(template: string): string | undefined {
  let at = 0;
  for (;;) {
    const open = template.indexOf('${', at);
    if (open < 0) return undefined;
    const close = template.indexOf('}', open + 2);
    if (close < 0) return `'${template}' has an unclosed '\${'`;
    const name = template.slice(open + 2, close);
    if (!CLAIM_SET.has(name)) return `'\${${name}}' is not a claim name${didYouMean(name, ALL_KIND_CLAIMS)}`;
    at = close + 1;
  }
}

export function readGcp(r: Reader, block: Field, path: string): GcpRoleConfig | undefined {
  const f = r.fields(block.value, GCP_KEYS, path, block.key);
  if (!f) return undefined;
  const saField = r.require(f, 'service_account', path, block.key);
  const sa = saField && r.string(saField, `${path}.service_account`);
  if (sa !== undefined && !SERVICE_ACCOUNT.test(sa)) {
    r.error(saField?.value, `${path}.service_account: ${serviceAccountHelp(sa)}`);
  }
  const out: GcpRoleConfig = {
    serviceAccount: sa ?? '',
    scopes: [CLOUD_PLATFORM_SCOPE],
    delegates: [],
    allowExtendedLifetime: false,
  };
  const scopesField = f.get('scopes');
  if (scopesField) {
    out.scopes = [];
    for (const s of r.strings(scopesField, `${path}.scopes`, { nonEmpty: true })) {
      const refusal = urlRefusal(s.value, { httpsOnly: true });
      if (refusal)
        r.error(s.node, `${path}.scopes: ${refusal.message} (scopes are URLs like ${CLOUD_PLATFORM_SCOPE})`);
      else out.scopes.push(s.value);
    }
  }
  const delegatesField = f.get('delegates');
  if (delegatesField) {
    for (const d of r.strings(delegatesField, `${path}.delegates`)) {
      if (SERVICE_ACCOUNT.test(d.value)) out.delegates.push(d.value);
      else r.error(d.node, `${path}.delegates: ${serviceAccountHelp(d.value)}`);
    }
  }
  const extField = f.get('allow_extended_lifetime');
  if (extField) out.allowExtendedLifetime = r.boolean(extField, `${path}.allow_extended_lifetime`) ?? false;
  return out;
}

function serviceAccountHelp(value: string): string {
  return (
    `'${value}' is not a service account email like name@project.iam.gserviceaccount.com ` +
    '(or …@developer.gserviceaccount.com, …@appspot.gserviceaccount.com)'
  );
}

export function readGithub(r: Reader, block: Field, path: string): GithubRoleDoc | undefined {
  const f = r.fields(block.value, GITHUB_KEYS, path, block.key);
  if (!f) return undefined;
  const out: GithubRoleDoc = { repositories: [], permissions: {} };
  const reposField = r.require(f, 'repositories', path, block.key);
  let owner: string | undefined;
  for (const repo of reposField ? r.strings(reposField, `${path}.repositories`, { nonEmpty: true }) : []) {
    if (!REPOSITORY.test(repo.value)) {
      r.error(repo.node, `${path}.repositories: '${repo.value}' is not owner/name (no wildcards)`);
      continue;
    }
    const o = repo.value.slice(0, repo.value.indexOf('/'));
    owner ??= o;
    if (o.toLowerCase() !== owner.toLowerCase()) {
      r.error(
        repo.node,
        `${path}.repositories: '${repo.value}' is not under '${owner}': a github role covers one owner ` +
          "(the App's installation on it); make another role for another owner",
      );
    } else out.repositories.push(repo.value);
  }
  const permsField = r.require(f, 'permissions', path, block.key);
  if (permsField) out.permissions = readPermissions(r, permsField, path);
  return out;
}

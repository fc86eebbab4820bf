/**
 * Issuer kinds in the policy (docs/ci-systems.md): `issuers[].kind` and `max_token_lifetime`,
 * and the load checks that tie each rule to the claims its issuers' tokens carry.
 *
 * A rule is read for the kinds of the issuers that may use it: its own `issuer:` when it names
 * one, else every issuer its role is bound to. Each condition must be a claim of each of those
 * kinds (a role bound to a GitHub and a GitLab issuer writes one rule per issuer, `issuer: URL`,
 * or only conditions both kinds carry, such as `sub`); each allow rule must pin whose job it is by
 * each kind's own pins. A GitLab token therefore never meets a GitHub rule: the rule's issuer, or
 * the role's binding, refuses it before any claim is read, whatever claims it carries.
 */
import { ISSUER_KINDS, type IssuerKind, isIssuerKind, KINDS, kindOf, pinsSomeone } from '../../ci-kinds.js';
import { didYouMean } from '../model/suggest.js';
import type { IssuerConfig, SourcePosition } from '../model/types.js';
import type { RoleDoc, RuleDoc } from './doc.js';
import type { Field, Reader } from './read.js';
import { boundIssuers } from './role-issuers.js';
import { checkGithubPinned } from './validate-rules.js';

/** Tokens longer-lived than this are refused whatever `max_token_lifetime` says. */
export const MAX_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;

/** `kind` and `max_token_lifetime` of one `issuers[]` entry, as the verifier takes them. */
export function readIssuerKind(
  r: Reader,
  f: Map<string, Field>,
  path: string,
): Pick<IssuerConfig, 'kind' | 'maxLifetimeSeconds' | 'replay'> {
  const kindField = f.get('kind');
  const lifetimeField = f.get('max_token_lifetime');
  if (!kindField && !lifetimeField) return {};
  let kind: IssuerKind = 'github';
  const written = kindField && r.string(kindField, `${path}.kind`);
  if (written !== undefined) {
    if (isIssuerKind(written)) kind = written;
    else {
      r.error(
        kindField?.value,
        `${path}.kind: '${written}' must be one of ${ISSUER_KINDS.join(', ')}${didYouMean(written, ISSUER_KINDS)}`,
      );
    }
  }
  let maxLifetimeSeconds = KINDS[kind].maxLifetimeSeconds;
  const lifetime = lifetimeField && r.duration(lifetimeField, `${path}.max_token_lifetime`);
  if (lifetime !== undefined) {
    if (lifetime < 60 || lifetime > MAX_TOKEN_LIFETIME_SECONDS) {
      r.error(lifetimeField?.value, `${path}.max_token_lifetime must be between 1m and 24h`);
    } else maxLifetimeSeconds = lifetime;
  }
  return { kind, maxLifetimeSeconds, replay: KINDS[kind].replay };
}

type Report = (at: SourcePosition, message: string) => void;

/**
 * The kind checks of one role, once its issuers are known; records on the document what
 * compile and lint need (each rule's kinds, each condition's case folding and form).
 * `trusted`: the policy's issuers. A role whose binding is itself in error is skipped.
 */
export function checkRoleKinds(role: RoleDoc, trusted: readonly IssuerConfig[], error: Report): void {
  const kindByUrl = new Map(trusted.map((i) => [i.url, kindOf(i)] as const));
  const bound = (boundIssuers(role) ?? (trusted.length === 1 ? [trusted[0]!.url] : [])).filter((u) =>
    kindByUrl.has(u),
  );
  if (bound.length === 0) return;
  role.kinds = [...new Set(bound.map((u) => kindByUrl.get(u)!))];
  if (role.requireProtectedEnvironment && !role.kinds.includes('github')) {
    // It asks GitHub about the token's repository: only a GitHub Actions token names one truly.
    error(
      role.position,
      `roles.${role.name}.require_protected_environment: only GitHub Actions tokens can show a protected ` +
        `GitHub environment, and this role is bound to ${role.kinds.join(', ')} issuers only; drop it, and pin the ` +
        'system\'s own protection in the rules (GitLab: environment_protected: "true")',
    );
  }
  for (const rule of [...role.allow, ...role.deny]) {
    const path = `roles.${role.name}.${rule.kind}[${rule.index}]`;
    let issuers = bound;
    if (rule.issuer) {
      const url = rule.issuer.value;
      if (!bound.includes(url)) {
        rule.kinds = []; // read by no issuer: no lint either
        error(
          rule.issuer.position,
          `${path}.issuer: '${url}' is not one of this role's issuers (${bound.join(', ')}); ` +
            "name one of them, or add it to the role's issuers",
        );
        continue;
      }
      issuers = [url];
    }
    checkRule(rule, path, issuers, kindByUrl, error);
  }
}

function checkRule(
  rule: RuleDoc,
  path: string,
  issuers: readonly string[],
  kindByUrl: ReadonlyMap<string, IssuerKind>,
  error: Report,
): void {
  const kinds = [...new Set(issuers.map((u) => kindByUrl.get(u)!))];
  rule.kinds = kinds;
  let refused = false;
  for (const c of rule.conditions) {
    if (c.custom) continue;
    const lacking = issuers.filter((u) => !KINDS[kindByUrl.get(u)!].claims.has(c.claim));
    if (lacking.length > 0) {
      const url = lacking[0]!;
      const k = KINDS[kindByUrl.get(url)!];
      const scope =
        issuers.length > 1 && !rule.issuer
          ? '; to write rules for one issuer of the role, add issuer: URL to the rule'
          : '';
      const owners = ISSUER_KINDS.filter((o) => KINDS[o].claims.has(c.claim)).map((o) => KINDS[o].title);
      const whose = owners.length > 0 ? ` ('${c.claim}' is a ${owners.join(' and ')} claim)` : '';
      error(
        c.position,
        `${path}.${c.claim}: ${k.title} tokens (issuer ${url}) carry no '${c.claim}' claim${whose}` +
          `${didYouMean(c.claim, k.claims.keys())}${scope}`,
      );
      refused = true;
      continue;
    }
    // An allow rule folds only where every kind does; a deny rule wherever one does: a GitHub
    // environment `PRODUCTION` is `production`, and must not slip past a deny rule because
    // the role is also bound to GitLab, whose environments are case-sensitive.
    const folds = (k: IssuerKind) => KINDS[k].foldCase.has(c.claim);
    c.fold = rule.kind === 'deny' ? kinds.some(folds) : kinds.every(folds);
    const form = KINDS[kinds[0]!].claims.get(c.claim);
    if (form && form !== 'string' && kinds.every((k) => KINDS[k].claims.get(c.claim) === form)) c.form = form;
  }
  // A refused condition is the error to fix first: its rule's pins are judged once it is.
  if (rule.kind !== 'allow' || rule.conditions.length === 0 || refused) return;
  for (const kind of kinds) {
    if (kind === 'github') checkGithubPinned(rule, path, error);
    else checkPinned(rule, path, kind, error);
  }
}

/** Every allow rule of a GitLab, Buildkite or CircleCI issuer must say whose job it admits. */
function checkPinned(rule: RuleDoc, path: string, kind: IssuerKind, error: Report): void {
  const k = KINDS[kind];
  const pins = rule.conditions.filter((c) => !c.custom && k.pins.includes(c.claim));
  if ((rule.written ?? []).some((w) => k.pins.includes(w)) && pins.length === 0) return; // reported
  if (pins.length === 0) {
    error(
      rule.position,
      `${path} must pin whose ${k.title} jobs it admits: add ${k.idPins.join(' or ')} (or ` +
        `${k.pins.filter((p) => !k.idPins.includes(p)).join(' / ')})${SHARED_ISSUER[kind] ?? ''}`,
    );
    return;
  }
  if (pins.some((c) => c.patterns.every((p) => pinsSomeone(kind, c.claim, p.value)))) return;
  const c = pins[0]!;
  const bad = c.patterns.find((p) => !pinsSomeone(kind, c.claim, p.value))!;
  const why = k.idPins.includes(c.claim) ? 'an id pin must be exact' : 'it does not name the owner exactly';
  error(bad.position, `${path}.${c.claim}: '${bad.value}' pins nothing: ${why}`);
}

/**
 * An org guardrail's deny rule, read for every kind at once (its roles may be any system's): a
 * claim is compared as the kind that carries it writes it (CircleCI's boolean `ssh-rerun`,
 * Buildkite's number `build_number`, a list) and with case folding where any kind folds it
 * (GitLab's `project_path`), so a guardrail never misses a value its claim can take. Unread, a
 * non-string claim would fail every pattern and the guardrail would never hold.
 */
export function guardrailRule(rule: RuleDoc): RuleDoc {
  const conditions = rule.conditions.map((c) => {
    if (c.custom) return c;
    const form = ISSUER_KINDS.map((k) => KINDS[k].claims.get(c.claim)).find((f) => f && f !== 'string');
    const fold = ISSUER_KINDS.some((k) => KINDS[k].foldCase.has(c.claim));
    return { ...c, fold, ...(form ? { form } : {}) };
  });
  return { ...rule, conditions };
}

const SHARED_ISSUER: Partial<Record<IssuerKind, string>> = {
  gitlab: '; gitlab.com issues the tokens of every project on it',
  buildkite: '; https://agent.buildkite.com issues the tokens of every Buildkite organization',
};

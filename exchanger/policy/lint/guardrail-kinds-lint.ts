/**
 * `jitkey check` on a directory: an org guardrail that tests a claim one of a role's issuers never
 * carries denies that role that issuer's tokens, as it fails closed (`load/compile.ts`); one that
 * tests a claim the issuer sends only sometimes (Buildkite's `queue_key`, which a job asks for)
 * denies every token without it. Said at the role, so its team sees why and what to change.
 */
import { isOptionalClaim, KINDS, kindOf } from '../../ci-kinds.js';
import type { IssuerConfig, SourcePosition } from '../model/types.js';
import type { GuardrailDoc, RoleDoc } from '../validate/doc.js';
import { boundIssuers } from '../validate/role-issuers.js';

type Warn = (
  at: SourcePosition,
  code: 'guardrail-unread-claim' | 'guardrail-optional-claim',
  message: string,
) => void;

export function lintGuardrailKinds(
  role: RoleDoc,
  guardrails: readonly GuardrailDoc[],
  issuers: readonly IssuerConfig[],
  warn: Warn,
): void {
  const urls = boundIssuers(role) ?? issuers.map((i) => i.url);
  for (const url of urls) {
    const kind = KINDS[kindOf(issuers.find((i) => i.url === url) ?? {})];
    for (const g of guardrails) {
      const tested = g.deny.flatMap((rule) =>
        rule.issuer && rule.issuer.value !== url ? [] : rule.conditions,
      );
      const unread = tested.filter((c) => !c.custom && !kind.claims.has(c.claim)).map((c) => c.claim);
      const optional = tested.filter((c) => isOptionalClaim(kind, c.claim)).map((c) => c.claim);
      if (optional.length > 0) {
        warn(
          role.position,
          'guardrail-optional-claim',
          `org guardrail '${g.name}' tests ${[...new Set(optional)].join(', ')}, which ${kind.title} tokens ` +
            `carry only sometimes (a job asks for it, or the system leaves it out): it denies role '${role.name}' ` +
            `every token of ${url} without it that the rest of its rule matches (a guardrail denies what it cannot check)`,
        );
      }
      if (unread.length === 0) continue;
      warn(
        role.position,
        'guardrail-unread-claim',
        `org guardrail '${g.name}' tests ${[...new Set(unread)].join(', ')}, which ${kind.title} tokens ` +
          `never carry: it denies role '${role.name}' every token of ${url} that the rest of its rule ` +
          'matches (a guardrail denies what it cannot check). If it is not meant for them, give its rule issuer: in org.yaml',
      );
    }
  }
}

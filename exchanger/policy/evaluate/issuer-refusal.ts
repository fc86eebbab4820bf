/**
 * The exchange-time half of a role's issuer binding (`role-issuers.ts` checks it at load): a
 * token from an issuer the role is not bound to is refused, whatever its claims.
 */
import { quote } from '../../text/quote.js';

/**
 * Why a token of `issuer` may not have `role`, or undefined when it may. A role without its own
 * binding trusts every issuer of the policy (load made sure there is only one).
 */
export function issuerRefusal(
  role: { name: string; issuers?: readonly string[] },
  issuer: string,
  trusted: readonly string[],
): string | undefined {
  if ((role.issuers ?? trusted).includes(issuer)) return undefined;
  return issuerDenial(role.name, issuer);
}

/** Names only the token's own `iss`, never the issuers the role trusts. */
export function issuerDenial(role: string, issuer: string | undefined): string {
  const iss = issuer === undefined ? 'iss was missing' : `iss was ${quote(issuer)}`;
  return `role '${role}' denied: it is not bound to this token's issuer (${iss}); use a role bound to that issuer`;
}

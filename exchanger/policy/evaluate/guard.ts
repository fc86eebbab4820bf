import type { Claims } from '../../claims.js';
import type { Role } from '../model/types.js';

/**
 * Checks a role needs beyond the claim match, asked of an outside system before minting
 * (e.g. "the environment exists and is protected"). Throws JitkeyError `access_denied`.
 */
export interface Guard {
  /** `token.appGithub`: the token's issuer is the GitHub the App's API answers for (`appGithubIssuer`). */
  check(role: Role, claims: Claims, token: { appGithub: boolean }): Promise<void>;
}

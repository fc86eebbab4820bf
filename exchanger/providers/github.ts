/**
 * The `github` provider: a GitHub App installation token narrowed to exactly the role's repositories
 * and permissions (`POST /app/installations/{id}/access_tokens`).
 *
 * Expiry is GitHub's: installation tokens live one hour whatever the granted duration, and the lease's
 * `expires_at` is the token's `expires_at`. Revoking the lease at job end (the Action's post step)
 * is what ends the token sooner: `revoke` calls `DELETE /installation/token` with the token itself,
 * which the server keeps only sealed: under the lease's revoke_token and, for the workflow_run
 * webhook, under the webhook secret (`revocationSecret`, `leases/run-end.ts`).
 */
import { createHash } from 'node:crypto';
import { JitkeyError } from '../errors.js';
import { createGithubApp, type GithubApp, type GithubAppOptions } from '../github/app.js';
import { type Logger, silentLogger } from '../log.js';
import type { MintedBy, MintRequest, Provider } from './types.js';

export type GithubProviderOptions = GithubAppOptions | { app: GithubApp; log?: Logger };

export interface GithubProvider extends Provider {
  readonly name: 'github';
  mint(request: MintRequest): Promise<MintedBy<'github'>>;
  /** The App client, to share with the environment guard and approvals. */
  readonly app: GithubApp;
}

export function createGithubProvider(options: GithubProviderOptions): GithubProvider {
  const app = 'app' in options ? options.app : createGithubApp(options);
  const log = options.log ?? silentLogger;

  return {
    name: 'github',
    app,

    async mint({ role, requestId, leaseId }: MintRequest): Promise<MintedBy<'github'>> {
      const config = role.github;
      if (!config) throw new JitkeyError('internal_error', `role '${role.name}' has no github settings`);
      const minted = await app.createInstallationToken(config.owner, {
        repositories: config.repositories,
        permissions: config.permissions,
      });
      const repositories = minted.repositories.length
        ? minted.repositories
        : config.repositories.map((name) => `${config.owner}/${name}`);
      log.info('github installation token minted', {
        role: role.name,
        owner: config.owner,
        repositories,
        permissions: minted.permissions,
        expires_at: minted.expiresAt.toISOString(),
        request_id: requestId,
        lease_id: leaseId,
      });
      return {
        credentials: { token: minted.token, permissions: minted.permissions, repositories },
        expiresAt: minted.expiresAt,
        revocationSecret: minted.token,
        // The audit log names the token by this hash (`activity/github-audit-log.ts`); it opens nothing.
        activityKey: {
          keyId: hashedToken(minted.token),
          account: config.owner,
          region: new URL(app.apiUrl).host,
        },
      };
    },

    async revoke(role, revocationSecret) {
      const outcome = await app.revokeInstallationToken(revocationSecret);
      log.info('github installation token revoked', { role: role?.name, outcome });
    },
  };
}

/** GitHub's `hashed_token` of a token: base64 of its SHA-256, as the audit log records it. */
export function hashedToken(token: string): string {
  return createHash('sha256').update(token).digest('base64');
}

/**
 * The exchanger's GitHub App, shared by the GitHub provider (installation tokens for jobs), the
 * environment guard (is this environment protected?) and approvals (who is this approver, is she
 * in that team, who started this run attempt?). Composed from one module per question, over one
 * client (client.ts) whose calls each carry their own `authorization`:
 *
 * - installations.ts — installation ids per owner (cached until GitHub answers 404: the App was
 *   reinstalled), minting and revoking tokens; tokens minted for jobs are never cached;
 * - internal-token.ts — the exchanger's own read tokens per owner and permission set (cached until
 *   5 minutes before they expire), used by the three below;
 * - environments.ts, people.ts, run-attempts.ts — the questions themselves, uncached.
 *
 * The App JWT is cached in client.ts until 2 minutes before it expires.
 */
import { createGithubClient, type GithubAppOptions } from './client.js';
import { createEnvironments, type Environments } from './environments.js';
import {
  createInstallations,
  type Installations,
  type InstallationToken,
  type TokenScope,
} from './installations.js';
import { createAsExchanger } from './internal-token.js';
import { createPeople, type People } from './people.js';
import { createRunAttempts, type RunAttempts } from './run-attempts.js';

export type { GithubAppOptions } from './client.js';
export type { EnvironmentInfo } from './environments.js';
export type {
  GithubPermissionLevel,
  GithubPermissions,
  InstallationToken,
  TokenScope,
} from './installations.js';
export type { RunAttempt } from './run-attempts.js';

export interface GithubApp extends Environments, People, RunAttempts {
  readonly apiUrl: string;
  installationId: Installations['installationId'];
  /** A fresh installation token narrowed to exactly these repositories (names without owner) and permissions. */
  createInstallationToken(owner: string, scope: TokenScope): Promise<InstallationToken>;
  revokeInstallationToken: Installations['revokeInstallationToken'];
}

export function createGithubApp(options: GithubAppOptions): GithubApp {
  const client = createGithubClient(options);
  const installations = createInstallations(client);
  const asExchanger = createAsExchanger(client, installations);
  return {
    apiUrl: client.apiUrl,
    installationId: installations.installationId,
    createInstallationToken: (owner, scope) => installations.createInstallationToken(owner, scope),
    revokeInstallationToken: installations.revokeInstallationToken,
    ...createEnvironments(client, asExchanger),
    ...createPeople(client, asExchanger),
    ...createRunAttempts(client, asExchanger),
  };
}

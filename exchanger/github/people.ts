/**
 * People: who holds this GitHub token (asked with that token), and is she an active member of
 * that team (asked with the exchanger's own Members: read token, see internal-token.ts).
 * Nothing here is cached; approvals/identity-cache.ts caches the answers for a short while.
 */
import { JitkeyError } from '../errors.js';
import type { GithubClient } from './client.js';
import { githubStatus, upstream } from './errors.js';
import { type AsExchanger, MEMBERS_READ, MEMBERS_READ_MISSING, readFailure } from './internal-token.js';

export interface People {
  /** Who holds this GitHub token (`GET /user`); throws `invalid_token` when GitHub rejects it. */
  getUser(userToken: string): Promise<{ login: string; id: number }>;
  /** Active member of `org/teamSlug`? Needs the App's Members: read organization permission. */
  isTeamMember(org: string, teamSlug: string, username: string): Promise<boolean>;
}

export function createPeople(client: GithubClient, asExchanger: AsExchanger): People {
  return {
    async getUser(userToken) {
      try {
        const { data } = await client.octokit.rest.users.getAuthenticated(client.as(`token ${userToken}`));
        return { login: data.login, id: data.id };
      } catch (e) {
        if (githubStatus(e) === 401) {
          throw new JitkeyError('invalid_token', 'GitHub did not accept this GitHub token (401)');
        }
        throw upstream('asking GitHub who holds a token (GET /user)', e);
      }
    },

    async isTeamMember(org, teamSlug, username) {
      try {
        return await asExchanger(org, MEMBERS_READ, async (auth) => {
          try {
            const { data } = await client.octokit.rest.teams.getMembershipForUserInOrg({
              org,
              team_slug: teamSlug,
              username,
              ...auth,
            });
            return data.state === 'active';
          } catch (e) {
            if (githubStatus(e) === 404) return false;
            throw e;
          }
        });
      } catch (e) {
        throw readFailure(`reading ${username}'s membership of ${org}/${teamSlug}`, e, MEMBERS_READ_MISSING);
      }
    },
  };
}

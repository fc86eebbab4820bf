/**
 * People: who holds this GitHub token (asked with that token), and is she an active member of
 * that team (asked with the exchanger's own Members: read token, see internal-token.ts).
 * Nothing here is cached; approvals/identity-cache.ts caches the answers for a short while.
 */
import { JitkeyError } from '../errors.js';
import type { GithubClient } from './client.js';
import { githubStatus, upstream } from './errors.js';
import { type AsExchanger, MEMBERS_READ, MEMBERS_READ_MISSING, readOrNotFound } from './internal-token.js';

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

    isTeamMember: (org, teamSlug, username) =>
      readOrNotFound(
        asExchanger,
        org,
        [MEMBERS_READ, MEMBERS_READ_MISSING],
        `reading ${username}'s membership of ${org}/${teamSlug}`,
        async (auth) => {
          const { data } = await client.octokit.rest.teams.getMembershipForUserInOrg({
            org,
            team_slug: teamSlug,
            username,
            ...auth,
          });
          return data.state === 'active';
        },
        false,
      ),
  };
}

/**
 * Who may decide: logins (case-insensitive), `login:id` by the id alone, teams through the App,
 * never the job's own actor.
 */
import { describe, expect, it } from 'vitest';
import {
  type ApproverDirectory,
  authorizeApprover,
  checkNotTriggeredBy,
  identify,
  isApprover,
  isSelf,
  votesInForce,
} from '../../exchanger/approvals/approvers.js';
import { JitkeyError } from '../../exchanger/errors.js';

/** A directory whose team memberships are a table; it counts the membership questions. */
function directory(teams: Record<string, string[]> = {}, failTeams = false) {
  const asked: string[] = [];
  const dir: ApproverDirectory & { asked: string[] } = {
    asked,
    async getUser(token) {
      if (token === 'gho_alice') return { login: 'alice', id: 1001 };
      throw new JitkeyError('invalid_token', 'GitHub did not accept this GitHub token (401)');
    },
    async isTeamMember(org, slug, login) {
      asked.push(`${org}/${slug}:${login}`);
      if (failTeams) throw new JitkeyError('upstream_error', 'GitHub answered 503');
      return (teams[`${org}/${slug}`.toLowerCase()] ?? []).includes(login.toLowerCase());
    },
    async getRunAttempt() {
      return { actorId: '1', triggeringActorId: '1' };
    },
  };
  return dir;
}

const alice = { login: 'alice', id: '1001' };
const carol = { login: 'Carol', id: '1003' };

describe('identify', () => {
  it('asks GitHub who holds the token; the id becomes a string like actor_id', async () => {
    expect(await identify(directory(), 'gho_alice')).toEqual({ login: 'alice', id: '1001' });
  });
  it('a token GitHub refuses is invalid_token', async () => {
    await expect(identify(directory(), 'gho_nobody')).rejects.toMatchObject({ code: 'invalid_token' });
  });
});

describe('isApprover', () => {
  const cases: {
    name: string;
    who: typeof alice;
    approvers: string[];
    teams?: Record<string, string[]>;
    want: boolean;
  }[] = [
    { name: 'a listed login', who: alice, approvers: ['bob', 'alice'], want: true },
    { name: 'logins compare case-insensitively', who: alice, approvers: ['ALICE'], want: true },
    { name: 'an unlisted login', who: alice, approvers: ['bob'], want: false },
    {
      name: 'a member of a listed team',
      who: carol,
      approvers: ['alice', 'acme/platform-leads'],
      teams: { 'acme/platform-leads': ['carol'] },
      want: true,
    },
    {
      name: 'not a member of the listed team',
      who: carol,
      approvers: ['acme/platform-leads'],
      teams: { 'acme/platform-leads': ['dave'] },
      want: false,
    },
    {
      name: 'a pinned login:id matches on the id: the account renamed is still it',
      who: { login: 'alice-renamed', id: '1001' },
      approvers: ['alice:1001'],
      want: true,
    },
    {
      name: 'a pinned login:id refuses its login under another id (renamed away, registered again)',
      who: { login: 'alice', id: '2002' },
      approvers: ['alice:1001'],
      want: false,
    },
    {
      name: 'a login that looks like a team slug is not one',
      who: alice,
      approvers: ['acme/alice'],
      want: false,
    },
  ];
  it.each(cases)('$name', async ({ who, approvers, teams, want }) => {
    expect(await isApprover(directory(teams), who, approvers)).toBe(want);
  });

  it('a listed login needs no team question', async () => {
    const dir = directory({ 'acme/leads': ['alice'] });
    expect(await isApprover(dir, alice, ['acme/leads', 'alice'])).toBe(true);
    expect(dir.asked).toEqual([]);
  });

  it('asks about each team once per memo (a listing over many requests)', async () => {
    const dir = directory({ 'acme/leads': ['carol'] });
    const memo = new Map();
    for (let i = 0; i < 5; i++) expect(await isApprover(dir, carol, ['acme/leads'], memo)).toBe(true);
    expect(dir.asked).toEqual(['acme/leads:Carol']);
  });

  it('a failure to ask GitHub fails closed (the error, not a yes)', async () => {
    await expect(isApprover(directory({}, true), carol, ['acme/leads'])).rejects.toMatchObject({
      code: 'upstream_error',
    });
  });
});

describe('authorizeApprover', () => {
  const request = (claims: Record<string, string>) => ({
    id: 'req_1',
    approvers: ['alice', 'acme/leads'],
    claims,
  });

  it('passes a listed approver who did not start the job', async () => {
    await expect(
      authorizeApprover(directory(), alice, request({ actor: 'bob', actor_id: '1002' })),
    ).resolves.toBeUndefined();
  });

  it('refuses someone not listed with access_denied, naming only them and the request id', async () => {
    const err = await authorizeApprover(
      directory(),
      { login: 'mallory', id: '1666' },
      request({ repository: 'acme/secret-repo', actor_id: '1002' }),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'access_denied', status: 403 });
    expect((err as Error).message).toBe(
      "mallory is not an approver for request req_1: the role's policy names who is",
    );
  });

  it('says when the login is pinned to another account: changed hands, or an id to correct', async () => {
    const pinned = { id: 'req_2', approvers: ['Alice:1001', 'acme/leads'], claims: { actor_id: '1002' } };
    const err = await authorizeApprover(directory(), { login: 'alice', id: '2002' }, pinned).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'access_denied' });
    expect((err as Error).message).toBe(
      "alice is not an approver for request req_2: the role's policy pins the login 'alice' to another GitHub account (a login that changed hands, or a user id to correct in the policy)",
    );
    // Someone else's pin says nothing about it.
    const other = await authorizeApprover(directory(), { login: 'mallory', id: '1666' }, pinned).catch(
      (e: unknown) => e,
    );
    expect((other as Error).message).toBe(
      "mallory is not an approver for request req_2: the role's policy names who is",
    );
  });

  it('refuses the job’s own actor with self_approval, by user id', async () => {
    await expect(
      authorizeApprover(directory(), alice, request({ actor: 'someone-else', actor_id: '1001' })),
    ).rejects.toMatchObject({ code: 'self_approval', status: 403 });
  });

  it('by login only when the token carried no actor_id', () => {
    expect(isSelf(alice, { actor: 'ALICE' })).toBe(true);
    expect(isSelf(alice, { actor: 'alice', actor_id: '7' })).toBe(false); // the id decides
    expect(isSelf(alice, {})).toBe(false);
  });
});

describe('ASCII folding and ids (issue 16, items 5 and 8)', () => {
  it('compares logins with ASCII folding only: a Unicode case pair is another login', async () => {
    // U+212A KELVIN SIGN lowercases to "k" under Unicode rules; GitHub logins are ASCII.
    expect(await isApprover(directory(), { login: 'kate', id: '7' }, ['\u212Aate'])).toBe(false);
    expect(await isApprover(directory(), { login: 'KATE', id: '7' }, ['kate'])).toBe(true);
    expect(isSelf({ login: 'kate', id: '7' }, { actor: '\u212Aate' })).toBe(false);
  });

  it('a numeric actor_id is compared as a string, never falling back to the login', () => {
    expect(isSelf(alice, { actor_id: 1001, actor: 'someone-else' })).toBe(true);
    expect(isSelf(alice, { actor_id: 1002, actor: 'alice' })).toBe(false);
  });
});

describe('votesInForce', () => {
  const at = new Date('2026-01-01T00:00:00Z');
  const vote = (login: string, id: string) => ({ login, id, at });
  const onCall = vote('octocat', 'on-call:pagerduty:PSCHED1');

  it('keeps an on-call auto-approval while the role still auto-approves from its schedule, though the actor is no approver', async () => {
    const votes = [onCall, vote('alice', '1001'), vote('bob', '1002')];
    expect(
      await votesInForce(directory(), votes, { approvers: ['alice'], onCallSchedules: ['PSCHED1'] }),
    ).toEqual([onCall, vote('alice', '1001')]);
  });

  it('drops it once the role no longer auto-approves from that schedule', async () => {
    expect(
      await votesInForce(directory(), [onCall], { approvers: ['octocat'], onCallSchedules: ['POTHER'] }),
    ).toEqual([]);
  });
});

describe('checkNotTriggeredBy', () => {
  const APP = 'https://token.actions.githubusercontent.com';
  const GHES = 'https://ghes.acme.example/_services/token';
  const asked: string[] = [];
  const github: ApproverDirectory = {
    ...directory(),
    async getRunAttempt(owner, repo, runId, attempt) {
      asked.push(`${owner}/${repo}#${runId}/${attempt}`);
      return { actorId: '1', triggeringActorId: '1001' };
    },
  };
  const request = (iss?: string) => ({
    id: 'req_1',
    claims: {
      repository: 'acme/web',
      repository_id: '1',
      run_id: '42',
      run_attempt: '2',
      ...(iss ? { iss } : {}),
    },
  });

  it("asks the App's GitHub who started a run of its own, and refuses that person", async () => {
    await expect(checkNotTriggeredBy(github, alice, request(APP), APP)).rejects.toMatchObject({
      code: 'self_approval',
    });
    // A request from before issuers were recorded is asked about too.
    await expect(checkNotTriggeredBy(github, alice, request(), APP)).rejects.toMatchObject({
      code: 'self_approval',
    });
    expect(asked).toEqual(['acme/web#42/2', 'acme/web#42/2']);
  });

  it('asks nothing about a second GitHub’s run, which the App’s API does not know', async () => {
    asked.length = 0;
    await expect(checkNotTriggeredBy(github, alice, request(GHES), APP)).resolves.toBeUndefined();
    expect(asked).toEqual([]);
  });
});

/**
 * Values shown to people (issue 16, items 7 and 8): bidi controls in `jitkey audit` / `jitkey
 * requests` tables are escaped, not passed to the terminal; GitHub names fold ASCII case only.
 */
import { describe, expect, it } from 'vitest';
import { formatAuditTable } from '../../exchanger/audit/format.js';
import { createEnvironmentGuard } from '../../exchanger/github/environment-guard.js';
import type { Role } from '../../exchanger/policy/model/types.js';
import { clean } from '../../exchanger/text/clean.js';
import { formatTable } from '../../exchanger/text/table.js';

const RLO = '\u202e';

describe('bidi controls (item 7)', () => {
  it.each([
    ['\u202e', '\\u202e'],
    ['\u2066', '\\u2066'],
    ['\u200f', '\\u200f'],
    ['\u061c', '\\u061c'],
  ])('clean escapes %j as %s', (c, shown) => {
    expect(clean(`main${c}x`)).toBe(`main${shown}x`);
  });

  it('a crafted ref cannot reorder a table row', () => {
    const out = formatTable([{ title: 'REF', value: (r: string) => r, max: 60 }], [`refs/heads/${RLO}niam`]);
    expect(out).not.toContain(RLO);
    expect(out).toContain('refs/heads/\\u202eniam');
  });

  it('nor an audit row', () => {
    const out = formatAuditTable([
      {
        at: new Date('2026-01-01T00:00:00Z'),
        requestId: 'req_1',
        event: 'exchange',
        outcome: 'denied',
        role: `deploy${RLO}`,
        reason: `denied ${RLO}x`,
        claims: { repository: `acme/${RLO}bew`, ref: `refs/heads/${RLO}` },
      },
    ]);
    expect(out).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
  });
});

describe('ASCII case folding of the environment cache key (item 8)', () => {
  it('an environment named with a Unicode case pair is asked of GitHub, not served from the cache', async () => {
    const asked: string[] = [];
    const guard = createEnvironmentGuard({
      github: {
        async getEnvironment(_owner, _repo, name) {
          asked.push(name);
          return name === 'kube'
            ? { name, protectionRules: ['required_reviewers'], deploymentBranchPolicy: false }
            : undefined;
        },
      },
    });
    const role = { name: 'r', requireProtectedEnvironment: true } as Role;
    await guard.check(role, { repository: 'acme/web', environment: 'kube' }, { appGithub: true });
    await guard.check(role, { repository: 'ACME/web', environment: 'KUBE' }, { appGithub: true });
    expect(asked).toEqual(['kube']);
    // U+212A KELVIN SIGN lowercases to "k" in Unicode; GitHub does not treat it as "K".
    await expect(
      guard.check(role, { repository: 'acme/web', environment: '\u212Aube' }, { appGithub: true }),
    ).rejects.toMatchObject({
      code: 'access_denied',
    });
    expect(asked).toEqual(['kube', '\u212Aube']);
  });
});

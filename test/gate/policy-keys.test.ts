/**
 * The deployment gate's and break-glass's policy keys: `approval.gate` and
 * `approval.break_glass { allowed, reviews_required }` are read, and what cannot work is a load
 * error that says what to change (a team where only logins are taken, a count under 1).
 */
import { describe, expect, it } from 'vitest';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';

const policy = (approval: string) =>
  [
    'version: 1',
    'issuers: [ { url: https://token.actions.githubusercontent.com, audience: jitkey } ]',
    'roles:',
    '  release:',
    '    provider: aws',
    '    aws: { role_arn: "arn:aws:iam::111122223333:role/release" }',
    `    approval: ${approval}`,
    '    allow: [ { repository_id: "1", environment: production } ]',
  ].join('\n');

describe('approval.gate and approval.break_glass', () => {
  it('reads both', () => {
    const p = loadPolicy(
      policy(
        '{ approvers: [alice, bob], gate: true, break_glass: { allowed: [carol], reviews_required: 2 } }',
      ),
      'p.yaml',
    );
    expect(p.roles.get('release')?.approval).toMatchObject({
      gate: true,
      breakGlass: { allowed: ['carol'], reviewsRequired: 2 },
    });
  });

  it('leaves them off by default', () => {
    const approval = loadPolicy(policy('{ approvers: [alice] }'), 'p.yaml').roles.get('release')?.approval;
    expect(approval?.gate).toBeUndefined();
    expect(approval?.breakGlass).toBeUndefined();
  });

  it('refuses a team under allowed, a count under 1, an unknown key and a gate that is not a boolean', () => {
    expect(() =>
      loadPolicy(policy('{ approvers: [alice], break_glass: { allowed: [acme/sre] } }'), 'p.yaml'),
    ).toThrow(/break_glass.allowed: 'acme\/sre' is not a GitHub login \(teams are not taken here\)/);
    expect(() =>
      loadPolicy(
        policy('{ approvers: [alice], break_glass: { allowed: [carol], reviews_required: 0 } }'),
        'p.yaml',
      ),
    ).toThrow(/reviews_required must be at least 1/);
    expect(() =>
      loadPolicy(policy('{ approvers: [alice], break_glass: { allowed: [carol], reviewers: 2 } }'), 'p.yaml'),
    ).toThrow(/reviewers/);
    expect(() => loadPolicy(policy('{ approvers: [alice], gate: yes please }'), 'p.yaml')).toThrow(/gate/);
  });
});

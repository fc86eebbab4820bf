/**
 * The pure parts of Slack interactivity: which payloads are a decision, and which `response_url`s
 * the exchanger will post to (Slack's own host only; loopback http only with the test switch).
 */
import { describe, expect, it } from 'vitest';
import { parseClick, responseUrlRefusal } from '../../exchanger/approvals/slack-interactions.js';
import { signSlack, verifySlackRequest } from '../../exchanger/approvals/slack-signature.js';

describe('responseUrlRefusal', () => {
  it('takes only https on hooks.slack.com; loopback http only when tests say so', () => {
    expect(responseUrlRefusal('https://hooks.slack.com/actions/T0/1/abc')).toBeUndefined();
    for (const url of [
      'http://hooks.slack.com/actions/T0/1/abc',
      'https://hooks.slack.com.evil.example/actions',
      'https://user:pw@hooks.slack.com/actions',
      'https://evil.example/actions',
      'http://127.0.0.1:9/respond',
      'not a url',
    ]) {
      expect(responseUrlRefusal(url), url).toBeDefined();
    }
    expect(responseUrlRefusal('http://127.0.0.1:9/respond', true)).toBeUndefined();
    expect(responseUrlRefusal('http://10.0.0.1/respond', true)).toBeDefined();
  });
});

describe('parseClick', () => {
  const payload = (actions: unknown[]) => ({
    type: 'block_actions',
    user: { id: 'U0ALICE01' },
    response_url: 'https://hooks.slack.com/actions/x',
    actions,
  });

  it('reads approve and deny by action_id, the request id from value', () => {
    expect(parseClick(payload([{ action_id: 'jitkey_deny', value: 'req_abc' }]))).toEqual({
      kind: 'deny',
      requestId: 'req_abc',
      slackUser: 'U0ALICE01',
      responseUrl: 'https://hooks.slack.com/actions/x',
    });
  });

  it('ignores other interactions (the Review link, another type) and refuses a bad value', () => {
    expect(parseClick(payload([{ action_id: 'jitkey_review' }]))).toBeUndefined();
    expect(parseClick({ type: 'view_submission' })).toBeUndefined();
    expect(() => parseClick(payload([{ action_id: 'jitkey_approve', value: '../x' }]))).toThrow(
      'not an approval request id',
    );
  });
});

describe('verifySlackRequest', () => {
  const now = new Date('2026-12-06T23:00:00Z');
  const ts = String(now.getTime() / 1000);
  const body = Buffer.from('payload=%7B%7D');

  it("accepts Slack's signature and refuses a changed body, a missing header or an old timestamp", () => {
    const signature = signSlack('s3cret', ts, body);
    expect(verifySlackRequest('s3cret', { timestamp: ts, signature }, body, now).signature).toBe(
      signature.slice(3),
    );
    expect(() =>
      verifySlackRequest('s3cret', { timestamp: ts, signature }, Buffer.from('payload=%7B%7D '), now),
    ).toThrow('does not match');
    expect(() => verifySlackRequest('s3cret', { timestamp: ts, signature: undefined }, body, now)).toThrow(
      'not a signed Slack request',
    );
    const later = new Date(now.getTime() + 301_000);
    expect(() => verifySlackRequest('s3cret', { timestamp: ts, signature }, body, later)).toThrow(
      '5 minutes',
    );
  });
});

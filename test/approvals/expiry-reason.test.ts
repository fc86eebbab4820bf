/** What the job is told when its request expired (issue 27, item 4): why, and who could have approved. */
import { describe, expect, it } from 'vitest';
import { expiryReason, statusView } from '../../exchanger/approvals/views.js';
import { approvalRequest } from '../store/approvals-contract.js';

const vote = (login: string, id: string) => ({ login, id, at: new Date('2025-03-01T12:05:00Z') });

describe('expiry reason', () => {
  it('says nobody approved within the timeout, how many did, and who could have', () => {
    const request = approvalRequest({ required: 2, approvals: [vote('alice', '1001')] });
    expect(statusView(request, 'expired', 2)).toMatchObject({
      status: 'expired',
      reason:
        'nobody approved it within its 30m timeout (1 of 2 approvals); it could have been approved by alice, acme/platform-leads',
    });
  });

  it('tells an approval that was never redeemed apart', () => {
    const request = approvalRequest({ status: 'approved', approvals: [vote('alice', '1001')] });
    expect(expiryReason(request)).toBe(`approved, but not redeemed by ${request.expiresAt.toISOString()}`);
  });

  it('keeps the reason recorded when the run ended, and says nothing while pending', () => {
    const request = approvalRequest({ status: 'expired', reason: 'its run attempt completed' });
    expect(statusView(request, 'expired', 1).reason).toBe('its run attempt completed');
    expect(statusView(approvalRequest(), 'pending', 1).reason).toBeUndefined();
  });
});

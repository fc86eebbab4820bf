/**
 * The lease page's view on its own: the one-word state of a lease's activity, a credential whose
 * activity cannot be read shows why (escaped: an upstream's message is text), GCP's match is said
 * to be by service account and time window, and a forbidden event is marked.
 */
import { describe, expect, it } from 'vitest';
import type { SignedIn } from '../../exchanger/console/session.js';
import { activityState, leaseActivityPage } from '../../exchanger/console/view-lease-activity.js';
import type { ActivityKey } from '../../exchanger/store/activity-types.js';

const T0 = new Date('2026-12-01T10:00:00Z');
const key = (over: Partial<ActivityKey>): ActivityKey => ({
  leaseId: 'lease_1',
  provider: 'gcp',
  keyId: 'deployer@proj-one.iam.gserviceaccount.com',
  account: 'proj-one',
  region: 'global',
  windowStart: T0,
  windowEnd: new Date(T0.getTime() + 3_600_000),
  nextPollAt: T0,
  status: 'collecting',
  ...over,
});
const who: SignedIn = { login: 'bob', id: '1002', csrf: 'c', idHash: 'h', admin: true };

describe('the lease activity view', () => {
  it.each([
    { name: 'no key', keys: [], want: 'not collected' },
    { name: 'one collecting', keys: [key({}), key({ status: 'complete' })], want: 'collecting' },
    { name: 'all complete', keys: [key({ status: 'complete' })], want: 'complete' },
    { name: 'any unavailable', keys: [key({ status: 'unavailable' }), key({})], want: 'unavailable' },
  ])('$name → $want', ({ keys, want }) => {
    expect(activityState(keys)).toBe(want);
  });

  it('shows why the activity is unavailable, escaped, and what GCP matches by', () => {
    const page = leaseActivityPage({
      who,
      leaseId: 'lease_1',
      activity: {
        keys: [
          key({
            status: 'unavailable',
            reason: 'activity unavailable: Cloud Logging refused entries.list (403 <b>PERMISSION_DENIED</b>)',
          }),
        ],
        events: [
          {
            leaseId: 'lease_1',
            keyId: 'k',
            eventId: 'e1',
            at: T0,
            name: 'google.iam.admin.v1.CreateServiceAccountKey',
            source: 'iam.googleapis.com',
            resources: [{ type: 'service_account', name: 'projects/p/serviceAccounts/x' }],
            details: { user_agent: 'gcloud/<470>', sources: ['10.0.0.1', '10.0.0.2'] },
          },
        ],
      },
      forbidden: new Map([['e1', 'iam.googleapis.com:*']]),
    }).text;
    expect(page).toContain('Activity: <span class="state">unavailable</span>');
    expect(page).toContain('refused entries.list (403 &lt;b&gt;PERMISSION_DENIED&lt;/b&gt;)');
    expect(page).toContain('service account and time window: other uses of the same service account');
    expect(page).toContain('the activity could not be read, or not all of it');
    expect(page).toContain('The lease itself has been purged');
    expect(page).toContain('<tr class="flagged">');
    expect(page).toContain('<strong>yes</strong> (iam.googleapis.com:*)');
    expect(page).toContain('1 event used an action the role forbids');
    expect(page).toContain('<span class="muted">user_agent:</span> gcloud/&lt;470&gt;');
    expect(page).toContain('<span class="muted">sources:</span> 10.0.0.1, 10.0.0.2');
  });
});

/**
 * Lease activity, GCP (issue 26, item 2), end to end: a job gets a service account's access token
 * and uses it; the GCP stand-in logs those calls as Cloud Audit Logs do (the account as principal,
 * the exchanger in the delegation chain); `jitkey serve`'s collector reads them with Cloud Logging
 * `entries.list`, authenticated as the GCP provider is, and the lease's activity lists them,
 * labelled "by service account and time window", never per token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { runCli } from '../support/exchanger-process.js';
import { type GcpStandin, type ServiceAccountKey, startGcpStandin } from '../support/gcp-standin.js';
import { granted, leaseActivity } from '../support/lease-activity.js';
import { policyFor, type Stack, startStack } from '../support/stack.js';

const SA = 'deployer@proj-one.iam.gserviceaccount.com';
const OTHER_SA = 'builder@proj-one.iam.gserviceaccount.com';
let gcp: GcpStandin;
let key: ServiceAccountKey;
let stack: Stack;

const role = (name: string, sa: string) => `  ${name}:
    provider: gcp
    gcp: { service_account: ${sa} }
    allow:
      - repository_id: "123456"
`;

beforeAll(async () => {
  gcp = await startGcpStandin({ loggingPageSize: 2 });
  key = await gcp.writeServiceAccountKey();
  stack = await startStack({
    policy: (issuer) => policyFor(issuer, role('gcp-deploy', SA) + role('gcp-build', OTHER_SA)),
    exchanger: {
      env: {
        GOOGLE_APPLICATION_CREDENTIALS: key.path,
        JITKEY_GCP_IAM_ENDPOINT: gcp.url,
        JITKEY_GCP_LOGGING_ENDPOINT: gcp.url,
        JITKEY_LEASE_ACTIVITY: 'gcp',
        JITKEY_ACTIVITY_POLL_INTERVAL: '1s',
        JITKEY_ACTIVITY_HORIZON: '1h',
      },
    },
  });
});
afterAll(async () => {
  await stack?.stop();
  await gcp?.stop();
});

describe('lease activity from Cloud Audit Logs', () => {
  it("lists the service account's calls made through jitkey in the lease's window", async () => {
    const g = await granted(stack, 'gcp-deploy');
    const t0 = Date.now() - 500;
    const call = (methodName: string, ms: number, extra = {}) =>
      gcp.useToken(g.credentials.access_token, {
        serviceName: 'storage.googleapis.com',
        methodName,
        resourceName: 'projects/_/buckets/releases/objects/app.tar',
        userAgent: 'gcloud/470.0.0',
        at: new Date(t0 + ms),
        ...extra,
      });
    call('storage.objects.get', 0);
    call('storage.objects.create', 1, { write: true });
    call('storage.buckets.delete', 2, { code: 7, write: true });
    // The same account used by someone else (not through jitkey), and another account: not ours.
    gcp.logging.record(SA, ['someone@proj-one.iam.gserviceaccount.com'], {
      serviceName: 'storage.googleapis.com',
      methodName: 'storage.objects.list',
      at: new Date(t0 + 3),
    });
    const other = await granted(stack, 'gcp-build');
    gcp.useToken(other.credentials.access_token, {
      serviceName: 'compute.googleapis.com',
      methodName: 'v1.compute.instances.list',
      at: new Date(t0 + 4),
    });

    const { text, json } = await eventually(async () => {
      const a = await leaseActivity(stack.exchanger.store, g.lease_id);
      return a.json.events.length >= 3 && a.json.credentials[0]?.polled_at ? a : undefined;
    }, "three events in the GCP lease's activity");
    expect(json.credentials).toEqual([
      expect.objectContaining({
        provider: 'gcp',
        key_id: SA,
        matched_by: 'service account and time window',
        account: 'proj-one',
        status: 'collecting',
      }),
    ]);
    expect(json.events.map((e: { name: string }) => e.name)).toEqual([
      'storage.objects.get',
      'storage.objects.create',
      'storage.buckets.delete',
    ]);
    expect(json.events[0]).toMatchObject({
      source: 'storage.googleapis.com',
      region: 'europe-west1',
      resources: [{ type: 'gcs_bucket', name: 'projects/_/buckets/releases/objects/app.tar' }],
      details: { user_agent: 'gcloud/470.0.0' },
    });
    expect(json.events[1]).toMatchObject({ read_only: false });
    expect(json.events[2]).toMatchObject({ error_code: 'PERMISSION_DENIED' });
    // No token, no request body, no caller address kept.
    expect(text).not.toContain(g.credentials.access_token);
    expect(text).not.toContain('never stored by jitkey');
    expect(text).not.toContain('192.0.2.20');
    // The table says what the match is by.
    const table = await runCli(['audit', 'lease', g.lease_id, '--store', stack.exchanger.store]);
    expect(table.stdout).toContain(`gcp key ${SA} (proj-one, global), by service account and time window:`);
    // entries.list was asked as the exchanger itself, in the account's project, with its own principal
    // in the delegation chain, and paged (2 entries a page here).
    const asked = gcp.logging.queries.filter((q) => q.filter.includes(SA));
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((q) => q.status === 200 && q.caller === key.email)).toBe(true);
    expect(asked[0]!.resourceNames).toEqual(['projects/proj-one']);
    expect(asked[0]!.filter).toContain(
      `serviceAccountDelegationInfo.firstPartyPrincipal.principalEmail="${key.email}"`,
    );
    expect(asked.some((q) => q.pageToken)).toBe(true);
  });

  it('a refused entries.list is said plainly and the lease keeps collecting', async () => {
    gcp.logging.deny(key.email);
    const g = await granted(stack, 'gcp-deploy');
    const { json } = await eventually(async () => {
      const a = await leaseActivity(stack.exchanger.store, g.lease_id);
      return a.json.credentials[0]?.reason ? a : undefined;
    }, 'a reason');
    expect(json.credentials[0]).toMatchObject({ status: 'collecting' });
    expect(json.credentials[0].reason).toContain(
      'activity unavailable: Cloud Logging refused entries.list on projects/proj-one (403 PERMISSION_DENIED',
    );
    expect(json.credentials[0].reason).toContain('logging.logEntries.list');
  });
});

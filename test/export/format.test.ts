/**
 * The OCSF and CloudEvents mapping of audit rows and lease activity events: the attributes each
 * class requires are there, ids are stable, and nothing but what the row holds goes out.
 */
import { describe, expect, it } from 'vitest';
import { cloudEvent } from '../../exchanger/export/cloudevents.js';
import { apiActivityId, OCSF_VERSION, ocsfEvent } from '../../exchanger/export/ocsf.js';
import { httpsBody, retryAfterMs } from '../../exchanger/export/sink-https.js';
import type { ActivityEvent } from '../../exchanger/store/activity-types.js';
import type { AuditEntry } from '../../exchanger/store/audit-types.js';
import type { ExportRecord } from '../../exchanger/store/export-cursor-types.js';
import { entry } from '../store/contract.js';

const at = new Date('2026-03-01T12:00:00.123Z');
type AuditRecord = Extract<ExportRecord, { stream: 'audit' }>;
const audit = (overrides: Partial<AuditEntry> = {}, id = 'audit-7'): AuditRecord => ({
  stream: 'audit',
  position: '7',
  id,
  entry: entry({
    at,
    requestId: 'req-7',
    leaseId: 'lease-7',
    clientAddress: '192.0.2.10',
    userAgent: 'jitkey-action/1.4',
    claims: { repository: 'acme/web', repository_id: '123456', ref: 'refs/heads/main', actor: 'octocat' },
    ...overrides,
  }),
});
const event: ActivityEvent = {
  leaseId: 'lease-7',
  keyId: 'ASIAEXAMPLEKEYID',
  eventId: 'ct-1',
  at,
  name: 'DeleteObject',
  source: 's3.amazonaws.com',
  region: 'eu-west-1',
  resources: [{ type: 'AWS::S3::Object', name: 'bucket/key' }],
  errorCode: 'AccessDenied',
  readOnly: false,
};
const activity: ExportRecord = {
  stream: 'activity',
  position: '1',
  id: 'activity-lease-7-ct-1',
  event,
  source: { provider: 'aws', account: '111122223333', region: 'eu-west-1' },
};

const parse = (line: string) => JSON.parse(line) as Record<string, unknown>;

/** Every string anywhere in a JSON value. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

describe('OCSF', () => {
  const BASE = ['activity_id', 'category_uid', 'class_uid', 'type_uid', 'severity_id', 'time', 'metadata'];

  it('maps an exchange to Authentication (3002) Logon, with the workload as the user', () => {
    const e = parse(ocsfEvent(audit()));
    for (const key of [...BASE, 'user']) expect(e, key).toHaveProperty(key);
    expect(e).toMatchObject({
      class_uid: 3002,
      category_uid: 3,
      activity_id: 1,
      type_uid: 300201,
      status_id: 1,
      severity_id: 1,
      time: at.getTime(),
      metadata: {
        version: OCSF_VERSION,
        uid: 'audit-7',
        correlation_uid: 'req-7',
        product: { name: 'jitkey' },
      },
      user: { name: 'acme/web', uid: '123456' },
      actor: { user: { name: 'octocat' } },
      auth_protocol_id: 4,
      src_endpoint: { ip: '192.0.2.10' },
      http_request: { user_agent: 'jitkey-action/1.4' },
      unmapped: { lease_id: 'lease-7', role: 'deploy-web-prod' },
    });
  });

  it.each([
    ['a refused exchange', { outcome: 'denied', errorCode: 'access_denied' }, 3002, 1, 2, 2],
    ['a revocation', { event: 'revoke', outcome: 'revoked' }, 3002, 2, 1, 1],
    ['an approval', { event: 'approve', outcome: 'allowed', actor: 'alice' }, 6003, 3, 1, 1],
    ['an approval request', { event: 'approval_request', outcome: 'pending' }, 6003, 1, 99, 1],
    [
      'a forbidden action',
      { event: 'activity', outcome: 'denied', errorCode: 'forbidden_action' },
      6003,
      99,
      2,
      4,
    ],
  ] as const)('maps %s', (_name, overrides, classUid, activityId, statusId, severityId) => {
    const e = parse(ocsfEvent(audit(overrides as Partial<AuditEntry>)));
    expect(e).toMatchObject({
      class_uid: classUid,
      activity_id: activityId,
      type_uid: classUid * 100 + activityId,
      status_id: statusId,
      severity_id: severityId,
    });
    if (classUid === 6003)
      expect(e.api).toMatchObject({ operation: overrides.event, request: { uid: 'req-7' } });
  });

  it("names who acted by login and GitHub user id: an approver's, else the job's actor", () => {
    const approve = parse(ocsfEvent(audit({ event: 'approve', actor: 'alice', actorId: '1001' })));
    expect(approve).toMatchObject({ actor: { user: { name: 'alice', uid: '1001', type_id: 1 } } });
    const job = parse(
      ocsfEvent(audit({ claims: { repository: 'acme/web', actor: 'octocat', actor_id: '583231' } })),
    );
    expect(job).toMatchObject({ actor: { user: { name: 'octocat', uid: '583231' } } });
  });

  it('maps a lease activity event to API Activity (6003) with the key, the call and the cloud', () => {
    const e = parse(ocsfEvent(activity));
    for (const key of [...BASE, 'actor', 'api']) expect(e, key).toHaveProperty(key);
    expect(e).toMatchObject({
      class_uid: 6003,
      category_uid: 6,
      activity_id: 4,
      type_uid: 600304,
      status_id: 2,
      status_code: 'AccessDenied',
      metadata: { uid: 'activity-lease-7-ct-1' },
      actor: { user: { credential_uid: 'ASIAEXAMPLEKEYID' }, session: { uid: 'lease-7' } },
      api: {
        operation: 'DeleteObject',
        service: { name: 's3.amazonaws.com' },
        response: { error: 'AccessDenied' },
      },
      resources: [{ type: 'AWS::S3::Object', name: 'bucket/key' }],
      cloud: { provider: 'AWS', region: 'eu-west-1', account: { uid: '111122223333' } },
      unmapped: { upstream_event_id: 'ct-1' },
    });
  });

  it.each([
    ['GetObject', true, 2],
    ['PutObject', false, 1],
    ['DeleteBucket', false, 4],
    ['AttachRolePolicy', false, 3],
    ['ListBuckets', undefined, 2],
    ['AssumeRole', false, 99],
    // Kubernetes verbs, as the audit webhook records them (READ is set for get, list and watch).
    ['get', true, 2],
    ['watch', undefined, 2],
    ['create', false, 1],
    ['update', false, 3],
    ['patch', false, 3],
    ['delete', false, 4],
    ['deletecollection', false, 4],
    ['impersonate', false, 99],
    // GCP and GitHub name an operation by dotted parts: the last one is the verb.
    ['storage.objects.create', false, 1],
    ['google.iam.admin.v1.DeleteServiceAccountKey', false, 4],
    ['repo.update', false, 3],
    // A verb is a whole word: these only begin with one.
    ['SettingsChanged', false, 99],
    ['addresses.list', undefined, 2],
  ])('%s (read-only %s) is activity %i', (name, readOnly, id) => {
    expect(apiActivityId({ name, readOnly })).toBe(id);
  });
});

describe('CloudEvents', () => {
  it('carries the required attributes and the row as `jitkey audit --json` prints it', () => {
    const e = parse(cloudEvent(audit(), { source: 'urn:jitkey:prod' }));
    expect(e).toMatchObject({
      specversion: '1.0',
      id: 'audit-7',
      source: 'urn:jitkey:prod',
      type: 'jitkey.audit.exchange',
      time: '2026-03-01T12:00:00.123Z',
      subject: 'lease-7',
      datacontenttype: 'application/json',
      data: { request_id: 'req-7', outcome: 'allowed', client_address: '192.0.2.10', lease_id: 'lease-7' },
    });
  });

  it('carries a lease activity event under its own type', () => {
    const e = parse(cloudEvent(activity, { source: 'urn:jitkey' }));
    expect(e).toMatchObject({
      specversion: '1.0',
      id: 'activity-lease-7-ct-1',
      type: 'jitkey.lease.activity',
      subject: 'lease-7',
      data: {
        name: 'DeleteObject',
        key_id: 'ASIAEXAMPLEKEYID',
        error_code: 'AccessDenied',
        account: '111122223333',
      },
    });
  });
});

describe('what goes out', () => {
  it('is only what the row holds, in either format', () => {
    const record = audit({ reason: 'granted for 15m' });
    const held = new Set([
      ...strings(JSON.parse(JSON.stringify(record.entry))),
      record.id,
      at.toISOString(),
      record.entry.expiresAt?.toISOString(),
    ]);
    // Words of the format itself (class names, enum captions, the product) are not row data.
    const format =
      /^(Authentication|Identity & Access Management|Logon|Informational|Success|System|User|OpenID|jitkey|1\.0|1\.3\.0|application\/json|urn:jitkey|jitkey\.audit\.exchange|Authentication: Logon|exchange allowed \(role deploy-web-prod\))$/;
    for (const line of [ocsfEvent(record), cloudEvent(record, { source: 'urn:jitkey' })]) {
      const extra = strings(parse(line)).filter((s) => !held.has(s) && !format.test(s));
      expect(extra).toEqual([]);
    }
  });
});

describe('HTTPS bodies and Retry-After', () => {
  const events = [
    { line: '{"a":1}', time: new Date(1_700_000_000_500) },
    { line: '{"b":2}', time: new Date(1_700_000_001_000) },
  ];
  it.each([
    ['ndjson', '{"a":1}\n{"b":2}\n'],
    ['array', '[{"a":1},{"b":2}]'],
    ['splunk-hec', '{"time":1700000000.500,"event":{"a":1}}\n{"time":1700000001.000,"event":{"b":2}}'],
  ] as const)('%s', (kind, body) => {
    expect(httpsBody(kind, events)).toBe(body);
  });

  it('reads delay-seconds and HTTP-dates, capped, ignoring nonsense', () => {
    const now = new Date('2026-03-01T12:00:00Z');
    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs('Sun, 01 Mar 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('86400', now)).toBe(600_000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });
});

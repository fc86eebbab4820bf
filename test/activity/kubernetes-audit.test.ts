/**
 * The Kubernetes audit filter (issue 26, item 2): which events of an EventList were made with
 * one of jitkey's tokens, found without parsing the others, and what is kept of each.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { candidateJtis, eventListProblem, keptEvents } from '../../exchanger/activity/kubernetes-audit.js';
import { jtiDirectory } from '../../exchanger/activity/kubernetes-keys.js';
import type { ActivityKey } from '../../exchanger/store/activity-types.js';
import { openStore } from '../../exchanger/store/open.js';
import type { Store } from '../../exchanger/store/types.js';
import {
  type AuditEventInput,
  auditEvent,
  CREDENTIAL_ID,
  eventList,
  unrelatedEvents,
} from '../support/kubernetes-audit.js';

const OURS = '4b4f3c1e-0d9e-4d6b-9a55-0c1f4e2b7a10';
const AT = new Date('2026-03-01T12:00:00.000Z');
const ours = (jti: string) => jti === OURS;
const body = (events: Record<string, unknown>[]) => Buffer.from(eventList(events));

const sa = (jti: string) => ({
  username: 'system:serviceaccount:web:deployer',
  groups: ['system:serviceaccounts', 'system:authenticated'],
  extra: { [CREDENTIAL_ID]: [`JTI=${jti}`] },
});
const request = (overrides: Partial<AuditEventInput> = {}): AuditEventInput => ({
  auditID: 'a-1',
  verb: 'delete',
  requestURI: '/api/v1/namespaces/web/secrets/db-password',
  user: sa(OURS),
  sourceIPs: ['192.0.2.10', '10.0.0.1'],
  userAgent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/9edcffc',
  objectRef: { resource: 'secrets', namespace: 'web', name: 'db-password' },
  code: 403,
  reason: 'Forbidden',
  at: AT,
  ...overrides,
});

describe('candidate credential ids, from the bytes', () => {
  it('finds every JTI= id, once each, and no certificate id', () => {
    const events = [
      ...unrelatedEvents(50, { tokens: 5 }),
      auditEvent(request()),
      auditEvent(request({ auditID: 'a-2' })),
    ];
    const found = candidateJtis(body(events));
    expect(found.has(OURS)).toBe(true);
    expect(found.size).toBe(6);
    for (const id of found) expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("takes no id a client spelled out in a header, however many, only a UUID in a value's own quotes", () => {
    const spelled = Array.from({ length: 5000 }, (_, i) => `"JTI=${String(i).padStart(36, '0')}`).join('');
    const uuidInHeader = `"JTI=${OURS}"`;
    const found = candidateJtis(
      body([
        auditEvent(request({ auditID: 'ua', user: sa('not-a-uuid'), userAgent: spelled })),
        auditEvent(request({ auditID: 'ua2', user: sa('not-a-uuid'), userAgent: uuidInHeader })),
      ]),
    );
    expect([...found]).toEqual([]);
  });

  it("takes no id from a TokenRequest's record of the token it issued: its key may not be stored yet", () => {
    // jitkey's own TokenRequest, logged as the API server writes it: the annotation names the
    // new token before jitkey has stored its key.
    const issuing = {
      ...auditEvent(request({ auditID: 'tr', user: sa('0f0f0f0f-0000-4000-8000-000000000001') })),
      annotations: { 'authentication.kubernetes.io/issued-credential-id': `JTI=${OURS}` },
    };
    // Kubernetes 1.29 spelled the annotation under authentication.k8s.io.
    const older = {
      ...issuing,
      annotations: { 'authentication.k8s.io/issued-credential-id': `JTI=${OURS}` },
    };
    expect([...candidateJtis(body([issuing, older]))]).toEqual(['0f0f0f0f-0000-4000-8000-000000000001']);
  });

  it('finds none in a batch without bound tokens', () => {
    const people = unrelatedEvents(30).filter((e) => !JSON.stringify(e).includes('"JTI='));
    expect(people.length).toBeGreaterThan(0);
    expect(candidateJtis(body(people)).size).toBe(0);
  });
});

describe('an EventList as the API server writes it', () => {
  it('is accepted in audit.k8s.io/v1 only, saying what to set otherwise', () => {
    expect(eventListProblem(body([]))).toBeUndefined();
    expect(
      eventListProblem(Buffer.from('{"kind":"EventList","apiVersion":"audit.k8s.io/v1beta1","items":[]}')),
    ).toBe(
      "the body is an EventList of audit.k8s.io/v1beta1: set the API server's --audit-webhook-version to audit.k8s.io/v1",
    );
    expect(eventListProblem(Buffer.from('{"kind":"Event","apiVersion":"audit.k8s.io/v1"}'))).toContain(
      'not an audit EventList',
    );
    expect(eventListProblem(Buffer.from('[1,2]'))).toBe('the body is not a JSON object');
  });
});

describe('events kept', () => {
  it("keeps the final stage of each request made with jitkey's token, and what a responder reads", () => {
    const events = [
      auditEvent(request({ stage: 'RequestReceived' })),
      ...unrelatedEvents(20),
      auditEvent(request({ requestObject: { kind: 'DeleteOptions', secret: 'never-kept-body' } })),
      // The same request again (the webhook retried the batch): kept once.
      auditEvent(request()),
    ];
    const kept = keptEvents(body(events), ours);
    expect(kept).toHaveLength(1);
    expect(kept[0]).toEqual({
      jti: OURS,
      event: {
        eventId: expect.stringMatching(/^a-1#[0-9a-f]{24}$/),
        at: AT,
        name: 'delete',
        source: 'secrets',
        region: 'web',
        resources: [{ type: 'secrets', name: 'db-password' }],
        errorCode: '403 Forbidden',
        readOnly: false,
        details: {
          request_uri: '/api/v1/namespaces/web/secrets/db-password',
          response_code: 403,
          user: 'system:serviceaccount:web:deployer',
          user_agent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/9edcffc',
          source_ips: ['192.0.2.10', '10.0.0.1'],
          stage: 'ResponseComplete',
        },
      },
    });
    expect(JSON.stringify(kept)).not.toContain('never-kept-body');
  });

  it('keeps two requests that share a client-chosen Audit-ID, and a batch sent again adds none', () => {
    // kubectl --as … -H 'Audit-ID: a-1': the API server writes the client's id as it comes.
    const harmless = auditEvent(
      request({ verb: 'get', objectRef: { resource: 'configmaps', namespace: 'web', name: 'x' }, code: 200 }),
    );
    const forbidden = auditEvent(request({ at: new Date(AT.getTime() + 1) }));
    const first = keptEvents(body([harmless, forbidden]), ours).map((k) => k.event);
    expect(first.map((e) => [e.name, e.source])).toEqual([
      ['get', 'configmaps'],
      ['delete', 'secrets'],
    ]);
    expect(first.every((e) => e.eventId.startsWith('a-1#'))).toBe(true);
    expect(new Set(first.map((e) => e.eventId)).size).toBe(2);
    const again = keptEvents(body([forbidden, harmless]), ours).map((k) => k.event.eventId);
    expect(new Set(again)).toEqual(new Set(first.map((e) => e.eventId)));
  });

  it('names a resource with its group and subresource, and a read as read-only', () => {
    const [scale, exec, version] = keptEvents(
      body([
        auditEvent(
          request({
            auditID: 's',
            verb: 'patch',
            objectRef: {
              resource: 'deployments',
              apiGroup: 'apps',
              namespace: 'web',
              name: 'api',
              subresource: 'scale',
            },
            code: 200,
          }),
        ),
        auditEvent(
          request({
            auditID: 'e',
            verb: 'get',
            objectRef: { resource: 'pods', namespace: 'web', name: 'api-0', subresource: 'exec' },
            code: 101,
          }),
        ),
        auditEvent(
          request({
            auditID: 'v',
            verb: 'get',
            requestURI: '/version?timeout=32s',
            objectRef: undefined,
            code: 200,
          }),
        ),
      ]),
      ours,
    ).map((k) => k.event);
    expect(scale).toMatchObject({ name: 'patch', source: 'deployments.apps/scale', readOnly: false });
    expect(scale?.errorCode).toBeUndefined();
    expect(exec).toMatchObject({
      name: 'get',
      source: 'pods/exec',
      readOnly: true,
      resources: [{ name: 'api-0' }],
    });
    expect(version).toMatchObject({ name: 'get', source: '/version', resources: [] });
    expect(version?.region).toBeUndefined();
  });

  it("drops an event whose user is someone else's, even when a header spells out jitkey's jti", () => {
    const events = [
      auditEvent(request({ auditID: 'ua', user: sa('other-token'), userAgent: `"JTI=${OURS}"` })),
      auditEvent(
        request({
          auditID: 'imp',
          user: sa('other-token'),
          impersonatedUser: { username: 'deployer', extra: { [CREDENTIAL_ID]: [`JTI=${OURS}`] } },
        }),
      ),
      auditEvent(
        request({
          auditID: 'cert',
          user: { username: 'alice', extra: { [CREDENTIAL_ID]: [`X509SHA256=${OURS}`] } },
        }),
      ),
    ];
    expect(candidateJtis(body(events)).has(OURS)).toBe(true);
    expect(keptEvents(body(events), ours)).toEqual([]);
  });

  it('cuts and escapes what the client chose: user agent and request URI', () => {
    const [kept] = keptEvents(
      body([
        auditEvent(
          request({
            userAgent: `evil\u001b[31m${'x'.repeat(400)}`,
            requestURI: `/api/v1/x?q=${'y'.repeat(400)}`,
          }),
        ),
      ]),
      ours,
    );
    const details = kept?.event.details as { user_agent: string; request_uri: string };
    expect(details.user_agent.startsWith('evil\\u001b[31m')).toBe(true);
    expect(details.user_agent.length).toBeLessThanOrEqual(256 + 5);
    expect(details.request_uri.endsWith('…')).toBe(true);
  });
});

describe('the jti directory', () => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
  });

  it('asks the store once per id, remembering both answers', async () => {
    store = await openStore('sqlite::memory:', { purgeIntervalMs: 0 });
    const key: ActivityKey = {
      leaseId: 'lease-1',
      provider: 'kubernetes',
      keyId: OURS,
      account: 'https://kube.example',
      region: 'web',
      windowStart: AT,
      windowEnd: AT,
      nextPollAt: AT,
      status: 'collecting',
    };
    await store.addActivityKey(key);
    await store.addActivityKey({ ...key, leaseId: 'lease-aws', provider: 'aws', keyId: 'ASIAFOREIGN' });
    const asked: string[][] = [];
    const real = store;
    const directory = jtiDirectory({
      activityKeysById: (ids) => {
        asked.push([...ids]);
        return real.activityKeysById(ids);
      },
    });
    expect([...(await directory.resolve([OURS, 'pod-token', 'ASIAFOREIGN'])).entries()]).toEqual([
      [OURS, key],
    ]);
    expect([...(await directory.resolve([OURS, 'pod-token', 'ASIAFOREIGN'])).keys()]).toEqual([OURS]);
    expect(await directory.resolve(['pod-token', 'new-pod-token'])).toEqual(new Map());
    expect(asked).toEqual([[OURS, 'pod-token', 'ASIAFOREIGN'], ['new-pod-token']]);
  });
});

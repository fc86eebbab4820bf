/**
 * The metric of a Kubernetes forbidden action is labelled by the `forbid_actions` entry it
 * matched, not by the request's resource: a lease's holder spells the resource and group of its
 * requests (`DELETE /apis/<any group>/v1/secrets` is audited too), and each label value would be
 * a new metric series kept for the life of the process.
 */
import { afterAll, expect, it } from 'vitest';
import { flagForbidden } from '../../exchanger/activity/forbidden.js';
import { silentLogger } from '../../exchanger/log.js';
import { loadPolicy } from '../../exchanger/policy/load/load-policy.js';
import type { ActivityEvent, ActivityKey } from '../../exchanger/store/activity-types.js';
import { openStore } from '../../exchanger/store/open.js';

const T0 = new Date('2026-12-01T10:00:00Z');
const store = await openStore('sqlite::memory:', { purgeIntervalMs: 0 });
afterAll(() => store.close());

const policy = loadPolicy(
  `version: 1
issuers:
  - { url: https://token.actions.githubusercontent.com, audience: jitkey }
roles:
  deploy:
    provider: kubernetes
    kubernetes: { server: "https://127.0.0.1:6443", namespace: web, service_account: deployer }
    forbid_actions: ["delete secrets"]
    allow:
      - { repository_id: "2" }
`,
  'p.yaml',
);

it('counts a Kubernetes forbidden action by the entry it matched, whatever group the client named', async () => {
  const leaseId = 'lease-k8s';
  await store.record(
    {
      at: T0,
      requestId: 'req_1',
      event: 'exchange',
      outcome: 'allowed',
      role: 'deploy',
      provider: 'kubernetes',
      reason: 'granted for 15m',
      claims: {},
      leaseId,
      expiresAt: new Date(T0.getTime() + 900_000),
    },
    {
      id: leaseId,
      role: 'deploy',
      provider: 'kubernetes',
      createdAt: T0,
      expiresAt: new Date(T0.getTime() + 900_000),
      revokeTokenHash: 'h',
    },
  );
  const key: ActivityKey = {
    leaseId,
    provider: 'kubernetes',
    keyId: '4b4f3c1e-0d9e-4d6b-9a55-0c1f4e2b7a10',
    account: 'https://127.0.0.1:6443',
    region: 'web',
    windowStart: T0,
    windowEnd: new Date(T0.getTime() + 900_000),
    nextPollAt: T0,
    status: 'collecting',
  };
  const events: ActivityEvent[] = ['secrets', 'secrets.a1', 'secrets.b2', 'secrets.c3'].map((source, i) => ({
    leaseId,
    keyId: key.keyId,
    eventId: `a-${i}`,
    at: T0,
    name: 'delete',
    source,
    region: 'web',
    resources: [],
  }));
  const labels: string[] = [];
  await flagForbidden({
    store,
    policy: () => policy,
    log: silentLogger,
    now: () => T0,
    newRequestId: () => 'req_flag',
    counted: ({ role, action }) => labels.push(`${role} ${action}`),
  })(key, events);
  expect(labels).toEqual(Array(4).fill('deploy delete secrets'));
  // Each is still its own audit row, naming what the request named.
  const reasons = (await store.queryAudit({ role: 'deploy' }))
    .filter((r) => r.event === 'activity')
    .map((r) => r.reason);
  expect(reasons).toHaveLength(4);
  expect(reasons.some((r) => r.startsWith('lease used delete secrets.c3,'))).toBe(true);
});

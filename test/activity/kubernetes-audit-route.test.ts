/**
 * POST /v1/kubernetes/audit in the real app (issue 26, item 2): off unless configured, and
 * failing soft: a store that cannot take a batch makes it 503 for the API server to send again,
 * and exchanges go on as before.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { auditIntake } from '../../exchanger/activity/kubernetes-intake.js';
import { jtiDirectory } from '../../exchanger/activity/kubernetes-keys.js';
import { JitkeyError } from '../../exchanger/errors.js';
import { silentLogger } from '../../exchanger/log.js';
import { kubernetesAuditRoute } from '../../exchanger/server/kubernetes-audit-route.js';
import { auditEvent, CREDENTIAL_ID, eventList } from '../support/kubernetes-audit.js';
import { serveLimitsApp, useCleanup } from '../support/limits-app.js';

const cleanup = useCleanup();
const TOKEN = 'a'.repeat(64);
const batch = eventList([
  auditEvent({
    verb: 'list',
    requestURI: '/api/v1/namespaces/web/configmaps',
    user: {
      username: 'system:serviceaccount:web:deployer',
      extra: { [CREDENTIAL_ID]: [`JTI=${randomUUID()}`] },
    },
    objectRef: { resource: 'configmaps', namespace: 'web' },
    code: 200,
  }),
]);
const post = (url: string) =>
  fetch(`${url}/v1/kubernetes/audit`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: batch,
  });

describe('POST /v1/kubernetes/audit', () => {
  it('is 404 on an exchanger without the audit webhook, saying what turns it on', async () => {
    const { url } = await serveLimitsApp(cleanup);
    const res = await post(url);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({
      error: 'not_found',
      message: expect.stringContaining('set JITKEY_KUBERNETES_AUDIT_TOKEN_FILE'),
    });
  });

  it('answers 503 when the store cannot say whose tokens these are, and exchanges still work', async () => {
    // An edge case: a store down for the activity reads only.
    const down = {
      activityKeysById: async () => {
        throw new JitkeyError('unavailable', 'the store is unreachable', { retryAfter: 1 });
      },
      addActivityEvents: async () => [],
    };
    const intake = auditIntake({ directory: jtiDirectory(down), store: down, log: silentLogger });
    const { url } = await serveLimitsApp(cleanup, {
      kubernetesAudit: kubernetesAuditRoute({ token: () => TOKEN, intake }),
    });
    const res = await post(url);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    const exchange = await fetch(`${url}/v1/exchange`, {
      method: 'POST',
      headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'deploy' }),
    });
    expect(exchange.status).toBe(200);
  });
});

/**
 * Sessions live in the store: signed in on instance A, the same browser acts on instance B, both
 * `jitkey serve` processes on one PostgreSQL schema (as behind a load balancer, where both answer
 * for one host: the browser sends the host's cookie to either).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchBrowser } from '../support/browser.js';
import { type ExchangerProcess, startExchanger } from '../support/exchanger-process.js';
import { type TestDatabase, testDatabase } from '../support/pg.js';
import { type ConsoleStack, freePort, startConsoleStack } from './support.js';

let db: TestDatabase;
let a: ConsoleStack;
let b: ExchangerProcess;

beforeAll(async () => {
  db = await testDatabase();
  a = await startConsoleStack({ store: db.storeUrl });
  const port = await freePort();
  b = await startExchanger({
    policyPath: a.stack.exchanger.policyPath,
    store: db.storeUrl,
    port,
    env: { ...a.stack.env, JITKEY_PUBLIC_URL: `http://127.0.0.1:${port}` },
  });
}, 120_000);
afterAll(async () => {
  await b?.stop();
  await a?.stop();
  await db?.drop();
});

it('signs in on instance A and approves on instance B (PostgreSQL)', { timeout: 90_000 }, async () => {
  const pending = await a.stack.exchange(a.stack.idp.mint({ run_id: '9100' }), { role: 'db-admin' });
  expect(pending.status).toBe(202);
  const id = pending.body.request_id as string;
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await a.signIn(page, 'alice');
    await page.goto(`${b.url}/console/requests/${id}`);
    expect(await page.locator('h1').textContent()).toContain('db-admin');
    await page.fill('#approve-note', 'from instance B');
    await Promise.all([
      page.waitForURL(/done=approve/),
      page.getByRole('button', { name: 'Approve' }).click(),
    ]);
    expect(b.output()).toContain('"msg":"console approve"');
    expect(a.stack.exchanger.output()).not.toContain('"msg":"console approve"');
    const rows = await db.query<{ event: string; actor: string | null }>(
      'SELECT event, actor FROM audit WHERE request_id = $1 ORDER BY id',
      [id],
    );
    expect(rows).toEqual([
      { event: 'approval_request', actor: null },
      { event: 'approve', actor: 'alice' },
    ]);
    const [session] = (await page.context().cookies()).filter((k) => k.name === '__Host-jitkey_session');
    const stored = await db.query<{ id_hash: string; login: string }>(
      'SELECT id_hash, login FROM console_sessions',
    );
    expect(stored.map((s) => s.login)).toEqual(['alice']);
    expect(JSON.stringify(stored)).not.toContain(session!.value);
  } finally {
    await browser.close();
  }
});

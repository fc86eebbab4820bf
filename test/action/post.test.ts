import { afterEach, describe, expect, it } from 'vitest';
import { runPost } from '../../src/post/run.js';
import { type FakeServer, fakeCore, fakeDeps, type Reply, startFakeServer } from './fakes.js';

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const STATE = {
  lease_id: 'lease_1',
  revoke_token: 'rvk_1',
  expires_at: '2030-01-01T00:15:00Z',
  exported_env: 'AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY,AWS_SESSION_TOKEN',
  revoke: 'true',
};

async function post(reply: Reply | null, state: Record<string, string> = {}) {
  server = await startFakeServer(() => reply ?? { status: 204 });
  const url = server.url;
  if (reply === null) await server.stop();
  const fc = fakeCore({}, { ...STATE, exchanger_url: url, ...state });
  const deps = fakeDeps(fc);
  await runPost(deps);
  if (reply === null) server = undefined;
  return { fc, deps };
}

describe('post step', () => {
  it('revokes the lease and clears the exported variables', async () => {
    const { fc } = await post({ status: 204 });
    expect(server!.requests).toHaveLength(1);
    expect(server!.requests[0]).toMatchObject({ method: 'POST', path: '/v1/revoke' });
    expect(server!.requests[0]!.json).toEqual({ lease_id: 'lease_1', revoke_token: 'rvk_1' });
    expect(fc.exported).toEqual({ AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SESSION_TOKEN: '' });
    expect(fc.failed).toEqual([]);
    expect(fc.calls.some((c) => c.method === 'info' && c.args[0] === 'jitkey: revoked lease lease_1.')).toBe(
      true,
    );
  });

  it('with revoke false only clears the variables', async () => {
    const { fc } = await post({ status: 204 }, { revoke: 'false' });
    expect(server!.requests).toHaveLength(0);
    expect(Object.keys(fc.exported)).toHaveLength(3);
  });

  it('tolerates an exchanger that is down: a warning, not a failure', async () => {
    const { fc, deps } = await post(null);
    expect(fc.failed).toEqual([]);
    const warnings = fc.calls.filter((c) => c.method === 'warning').map((c) => c.args[0]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^jitkey: could not revoke lease lease_1: Could not reach the exchanger/);
    expect(warnings[0]).toContain('stay valid until 2030-01-01T00:15:00Z');
    expect(deps.sleeps).toHaveLength(2);
    expect(Object.values(fc.exported)).toEqual(['', '', '']);
  });

  it('warns on a refused revocation', async () => {
    const { fc } = await post({
      status: 403,
      body: { error: 'access_denied', message: 'bad revoke token', request_id: 'q' },
    });
    expect(fc.failed).toEqual([]);
    expect(fc.calls.find((c) => c.method === 'warning')!.args[0]).toContain('bad revoke token');
  });

  it('does nothing without a lease', async () => {
    const fc = fakeCore({}, {});
    await runPost(fakeDeps(fc));
    expect(fc.failed).toEqual([]);
    expect(fc.exported).toEqual({});
    expect(fc.calls.some((c) => c.method === 'send')).toBe(false);
  });

  it('clears only well-formed variable names from state', async () => {
    const { fc } = await post({ status: 204 }, { exported_env: 'GH_TOKEN,bad name,,PATH=x' });
    expect(fc.exported).toEqual({ GH_TOKEN: '' });
  });
});

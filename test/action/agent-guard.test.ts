/**
 * Who the built credentials agent (dist/agent, under Node 20 and the Node 24 the runner uses)
 * answers: only the `Host` values its clients send (a page DNS-rebound onto 127.0.0.1 sends its
 * own name), and only connections of the job's own user — a process of another local user is
 * refused even with the AWS bearer token, and the GCP metadata endpoint, which takes no token,
 * hands it nothing. The other user is `nobody` (65534), a child process started with its uid,
 * which needs the tests to run as root.
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../src/agent/config.js';
import { type AgentHandle, launchAgent } from '../../src/agent/launch.js';
import { peerCheck, procEndpoint, socketOwner } from '../../src/agent/peer.js';
import { startAgent } from '../../src/agent/run.js';
import type { Lease } from '../../src/shared/api.js';
import { actionNodes, REPO_ROOT } from '../support/runner.js';

const AGENT = join(REPO_ROOT, 'dist/agent/index.js');
const BEARER = 'agent-bearer-0123456789abcdefghijklmnopqrstuv';
const NOBODY = 65534;
const IS_ROOT = process.getuid?.() === 0;
const FLAVOR = { 'metadata-flavor': 'Google' };

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();
const gcpLease = (): Lease => ({
  leaseId: 'lease_gcp',
  revokeToken: 'rt',
  role: 'read-gcp',
  expiresAt: inAnHour(),
  provider: 'gcp',
  credentials: {
    access_token: 'ya29.job-token',
    token_type: 'Bearer',
    service_account: 'ci@p.iam.gserviceaccount.com',
  },
});
const awsLease = (): Lease => ({
  leaseId: 'lease_aws',
  revokeToken: 'rt',
  role: 'deploy',
  expiresAt: inAnHour(),
  provider: 'aws',
  credentials: {
    access_key_id: 'AKIAJOB',
    secret_access_key: 'job-secret',
    session_token: 'job-session',
    expiration: '',
  },
});

function config(lease: Lease): AgentConfig {
  // Nothing here is ever called: the leases outlive the tests, so the agent never renews.
  return {
    exchangerUrl: 'http://127.0.0.1:9/',
    role: lease.role,
    audience: 'jitkey',
    retries: 0,
    tokenRequestUrl: 'http://127.0.0.1:9/token',
    tokenRequestToken: 'runner-token',
    bearer: BEARER,
    lease,
  };
}

interface Answer {
  status: number;
  body: string;
}

/** One GET to the agent from this process, with the `Host` header given (none when null). */
function get(port: number, path: string, host: string | null, headers: Record<string, string> = {}) {
  return new Promise<Answer>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        setHost: host !== null,
        headers: { ...(host === null ? {} : { host }), ...headers },
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The same GET made by a process of another user (`uid`), as a local attacker would. */
function getAs(uid: number, port: number, path: string, headers: Record<string, string>) {
  const script = `
    const req = require('node:http').get({ host: '127.0.0.1', port: ${port}, path: ${JSON.stringify(path)},
      headers: ${JSON.stringify(headers)} }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode, body })));
    });
    req.on('error', (e) => process.stdout.write(JSON.stringify({ status: 0, body: e.message })));`;
  return new Promise<Answer>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], {
      uid,
      gid: uid,
      cwd: '/',
      env: {},
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (err += c));
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(JSON.parse(out) as Answer);
      } catch {
        reject(new Error(`the uid ${uid} client printed ${JSON.stringify(out)} (stderr ${err})`));
      }
    });
  });
}

const started: AgentHandle[] = [];
afterAll(() => {
  for (const agent of started) {
    try {
      process.kill(agent.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

async function start(lease: Lease, node: string) {
  const agent = await launchAgent({ env: {} }, config(lease), AGENT, node);
  started.push(agent);
  return Number(new URL(agent.origin).port);
}

const TOKEN_PATH = '/computeMetadata/v1/instance/service-accounts/default/token';

describe.each(actionNodes())('the credentials agent under $name', ({ path: node }) => {
  it('GCP: answers the Host values clients send, 403 to any other (DNS rebinding)', async () => {
    const port = await start(gcpLease(), node);
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      'metadata.google.internal',
      '169.254.169.254',
    ]) {
      const answer = await get(port, TOKEN_PATH, host, FLAVOR);
      expect([host, answer.status]).toEqual([host, 200]);
      expect(JSON.parse(answer.body).access_token).toBe('ya29.job-token');
    }
    for (const host of [`rebound.attacker.example:${port}`, `127.0.0.1:${port + 1}`, 'localhost']) {
      const answer = await get(port, TOKEN_PATH, host, FLAVOR);
      expect([host, answer.status]).toEqual([host, 403]);
      expect(answer.body).not.toContain('ya29');
    }
    // No Host at all: Node's server itself refuses an HTTP/1.1 request without one.
    expect((await get(port, TOKEN_PATH, null, FLAVOR)).status).toBe(400);
  });

  it('AWS: a rebound Host is refused even with the token; the token is still required', async () => {
    const port = await start(awsLease(), node);
    const auth = { authorization: BEARER };
    expect((await get(port, '/aws/credentials', `127.0.0.1:${port}`, auth)).status).toBe(200);
    const rebound = await get(port, '/aws/credentials', `rebound.attacker.example:${port}`, auth);
    expect(rebound.status).toBe(403);
    expect(rebound.body).not.toContain('job-secret');
    expect((await get(port, '/aws/credentials', `127.0.0.1:${port}`)).status).toBe(401);
  });

  it.skipIf(!IS_ROOT)('refuses a connection from another local user; the job user is served', async () => {
    const gcp = await start(gcpLease(), node);
    const theirs = await getAs(NOBODY, gcp, TOKEN_PATH, FLAVOR);
    expect(theirs.status).toBe(403);
    expect(theirs.body).not.toContain('ya29');
    expect((await get(gcp, TOKEN_PATH, `127.0.0.1:${gcp}`, FLAVOR)).status).toBe(200);

    const aws = await start(awsLease(), node);
    const withToken = await getAs(NOBODY, aws, '/aws/credentials', { authorization: BEARER });
    expect(withToken.status).toBe(403);
    expect(withToken.body).not.toContain('job-secret');
  });
});

describe('the owner of a loopback connection, from /proc/net/tcp', () => {
  // Two rows of one connection, as the kernel prints them on a little-endian host: the client's
  // socket (127.0.0.1:40000 → 127.0.0.1:8080, uid 1001) and the agent's end (uid 0).
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1 0 100 0 0 10 0',
    '   1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1001        0 101 1 0 20 4 30 10 -1',
    '   2: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 102 1 0 20 4 30 10 -1',
  ].join('\n');
  const client = { address: '127.0.0.1', port: 40000 };
  const agent = { address: '127.0.0.1', port: 8080 };

  it("reads the client socket's uid, not the agent's end of the same connection", () => {
    expect(procEndpoint(client, true)).toBe('0100007F:9C40');
    expect(procEndpoint(client, false)).toBe('7F000001:9C40');
    expect(socketOwner(table, client, agent, true)).toBe(1001);
  });

  it('finds no owner for a connection it has no row for (then the agent refuses)', () => {
    expect(socketOwner(table, { address: '127.0.0.2', port: 40000 }, agent, true)).toBeUndefined();
    expect(socketOwner(table, { address: '127.0.0.1', port: 40001 }, agent, true)).toBeUndefined();
  });
});

describe('where the kernel cannot say who connects (no /proc/net/tcp: macOS, Windows)', () => {
  it('there is no peer check, and the GCP agent, whose endpoint takes no token, refuses to start', async () => {
    const noTable = () => Promise.reject(Object.assign(new Error('ENOENT'), { code: 'ENOENT' }));
    expect(await peerCheck([0], noTable)).toBeUndefined();
    await expect(startAgent(config(gcpLease()), { exit: () => {} }, async () => undefined)).rejects.toThrow(
      /the gcp endpoint takes no token, so it is served only where the agent can tell which user connects \(Linux, \/proc\/net\/tcp\); on this runner use refresh: false/,
    );
  });
});

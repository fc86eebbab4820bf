/**
 * `jitkey credentials` against an exchanger that answers with hostile text: what it prints on
 * stderr stays one line per line it means to print, with no terminal sequence, whatever the
 * exchanger put in an id, a time or a list of approvers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ciJob } from '../support/jitkey-credentials.js';

const HOSTILE = 'x\u001b]8;;http://evil\u0007\r\n::add-mask::x\u001b[2K ##[stop-commands]t';
let server: Server;
let url: string;
let answer: { status: number; body: unknown } = { status: 500, body: {} };

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

const printed = async (more: string[] = []) => {
  const job = ciJob();
  const args = ['--url', url, '--role', 'deploy', '--token-env', 'T', '--format', 'json', ...more];
  const run = await job.client(args, { T: 'a.b.c', R: 'd.e.f' });
  return run.stderr;
};
const plain = (stderr: string) => {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for them is the point
  expect(stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
  expect(stderr.split('\n').filter((line) => line.startsWith('::'))).toEqual([]);
  expect(stderr).not.toContain('##[');
};

describe('jitkey credentials, an exchanger answering hostile text', () => {
  it('a refusal: its code and request id stay on their line', async () => {
    answer = {
      status: 403,
      body: { error: `access_denied${HOSTILE}`, message: `no${HOSTILE}`, request_id: `req${HOSTILE}` },
    };
    plain(await printed());
  });

  it('a grant: its lease id and end stay on their line', async () => {
    answer = {
      status: 200,
      body: {
        lease_id: `lease${HOSTILE}`,
        revoke_token: 'rvk',
        role: 'deploy',
        provider: 'github',
        expires_at: `soon${HOSTILE}`,
        credentials: { token: 'ghs_x' },
      },
    };
    const stderr = await printed();
    expect(stderr).toContain('jitkey: issued github credentials');
    plain(stderr);
  });

  it('a pending approval: its id, approvers and end stay on their lines', async () => {
    answer = {
      status: 202,
      body: {
        status: 'pending',
        request_id: `req${HOSTILE}`,
        poll_token: 'p',
        approvers: [`alice${HOSTILE}`],
        required: 1,
        expires_at: `later${HOSTILE}`,
      },
    };
    plain(await printed());
    // With a second token it waits, saying who may approve, and gives up at --wait-approval.
    const waited = await printed(['--redeem-token-env', 'R', '--wait-approval', '1s']);
    expect(waited).toContain('must approve request req');
    plain(waited);
  });
});

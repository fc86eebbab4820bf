/**
 * The baseline server: the exchanger's HTTP framework (plain node:http, with the same server
 * options and listen backlog) answering POST /v1/exchange with a fixed JSON body of a grant's size,
 * after reading the request body. What is left of an exchange's cost above this is the exchanger's
 * own work.
 *
 * With `--upstream URL` it first makes one POST to that URL over a keep-alive agent and waits for
 * the answer (any status): the least an exchanger must do per request, one upstream round trip.
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

const BODY = JSON.stringify({
  lease_id: 'lease_AAAAAAAAAAAAAAAAAAAAAA',
  revoke_token: 'A'.repeat(43),
  role: 'deploy',
  provider: 'aws',
  expires_at: '2026-01-01T00:15:00.000Z',
  credentials: {
    access_key_id: 'ASIAAAAAAAAAAAAAAAAA',
    secret_access_key: 'A'.repeat(40),
    session_token: 'A'.repeat(208),
    expiration: '2026-01-01T00:15:00.000Z',
    region: 'us-east-1',
  },
});
const LENGTH = Buffer.byteLength(BODY);
const UPSTREAM_BODY = 'Action=AssumeRole&Version=2011-06-15';

const flag = process.argv.indexOf('--upstream');
const upstream = flag >= 0 ? new URL(process.argv[flag + 1]!) : undefined;
const agent = new Agent({ keepAlive: true, maxSockets: 128 });

function callUpstream(url: URL): Promise<void> {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': UPSTREAM_BODY.length,
        },
      },
      (res) => {
        res.on('data', () => {});
        res.on('end', resolve);
      },
    );
    req.on('error', () => resolve());
    req.end(UPSTREAM_BODY);
  });
}

const server = createServer(
  { keepAliveTimeout: 65_000, requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 32 * 1024 },
  (req, res) => {
    req.on('data', () => {});
    req.on('end', async () => {
      if (upstream) await callUpstream(upstream);
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': LENGTH,
        'cache-control': 'no-store',
      });
      res.end(BODY);
    });
  },
);
// The same listen backlog as `jitkey serve`.
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ msg: 'listening', url: `http://127.0.0.1:${port}` })}\n`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});

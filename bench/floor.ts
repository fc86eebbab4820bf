/**
 * The floor of an exchange: a minimal exchanger doing only the work no exchanger can skip, run
 * as its own process like `jitkey serve`, so section 3 can divide `jitkey serve`'s CPU per
 * exchange by this one's in the same run:
 *
 * - RS256 verify of the bearer token with `node:crypto` (the issuer's key fetched once at start),
 *   `exp` and `aud` checked;
 * - one claim match (`repository`);
 * - `AssumeRole` through `@aws-sdk/client-sts` over a keep-alive agent (the endpoint and keys from
 *   the environment, as `jitkey serve` reads them);
 * - the jti, a lease and an audit row written in one SQLite transaction per event-loop turn
 *   (group commit, WAL, synchronous=NORMAL), committed before the answer.
 *
 *   node lib/bench/floor.js --issuer URL --db FILE [--no-checkpoints]
 *
 * With `--no-checkpoints` SQLite does not checkpoint its WAL while it runs, so the loop carries only the
 * exchanges (sections 4 and 5, where the floor stands for latency): an automatic checkpoint runs
 * in the committing call and stalls every exchange waiting behind it, which `jitkey serve` avoids
 * with a thread of its own. Fine for a bench's few thousand exchanges; not for a server.
 *
 * Nothing else: no policy language, no limits, no logging per request, no metrics.
 */
import { createPublicKey, type JsonWebKey, type KeyObject, randomBytes, verify } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import Database from 'better-sqlite3';

const arg = (name: string): string => {
  const at = process.argv.indexOf(name);
  const value = at >= 0 ? process.argv[at + 1] : undefined;
  if (!value) throw new Error(`usage: floor.js --issuer URL --db FILE (missing ${name})`);
  return value;
};
const ISSUER = arg('--issuer');
const ROLE_ARN = 'arn:aws:iam::111122223333:role/web-deploy';
const REPOSITORY = 'acme/web';
const AUDIENCE = 'jitkey';

const db = new Database(arg('--db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
if (process.argv.includes('--no-checkpoints')) db.pragma('wal_autocheckpoint = 0');
db.exec(`
  CREATE TABLE IF NOT EXISTS used_jtis (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS leases (id TEXT PRIMARY KEY, role TEXT NOT NULL, repository TEXT,
    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, outcome TEXT NOT NULL,
    role TEXT, lease_id TEXT, claims TEXT NOT NULL);
`);
const insertJti = db.prepare('INSERT INTO used_jtis (jti, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING');
const insertLease = db.prepare(
  'INSERT INTO leases (id, role, repository, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
);
const insertAudit = db.prepare(
  'INSERT INTO audit (at, outcome, role, lease_id, claims) VALUES (?, ?, ?, ?, ?)',
);

/** Group commit: every write of one event-loop turn in one transaction, answered after it. */
type Op = { run: () => boolean; done: (fresh: boolean | Error) => void };
let queue: Op[] = [];
const commit = db.transaction((ops: Op[]) => ops.map((op) => op.run()));
function submit(run: () => boolean): Promise<boolean> {
  return new Promise((resolve, reject) => {
    if (queue.length === 0) setImmediate(flush);
    queue.push({ run, done: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
  });
}
function flush(): void {
  const batch = queue;
  queue = [];
  try {
    const results = commit.immediate(batch);
    for (const [i, op] of batch.entries()) op.done(results[i]!);
  } catch (err) {
    for (const op of batch) op.done(err as Error);
  }
}

const sts = new STSClient({
  region: process.env.AWS_REGION ?? 'us-east-1',
  ...(process.env.AWS_ENDPOINT_URL_STS ? { endpoint: process.env.AWS_ENDPOINT_URL_STS } : {}),
  // The SDK's default retries: a keep-alive socket the stand-in closed is retried, not a 502.
  requestHandler: { httpAgent: { keepAlive: true, maxSockets: 256 } },
  // The SDK's own cheaper path, which `jitkey serve` takes too: the floor is the least the SDK
  // allows, not its default.
  cacheMiddleware: true,
});

const keys = new Map<string, KeyObject>();
async function fetchKeys(): Promise<void> {
  const config = (await (await fetch(`${ISSUER}/.well-known/openid-configuration`)).json()) as {
    jwks_uri: string;
  };
  const jwks = (await (await fetch(config.jwks_uri)).json()) as { keys: (JsonWebKey & { kid: string })[] };
  for (const jwk of jwks.keys) keys.set(jwk.kid, createPublicKey({ key: jwk, format: 'jwk' }));
}

class Refused extends Error {}

function verified(token: string): Record<string, unknown> {
  const [h, p, s] = token.split('.');
  if (!h || !p || !s) throw new Refused('malformed token');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string; kid?: string };
  const key = header.alg === 'RS256' && header.kid ? keys.get(header.kid) : undefined;
  if (!key) throw new Refused('unknown key');
  if (!verify('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url')))
    throw new Refused('bad signature');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  if (claims.aud !== AUDIENCE || typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now())
    throw new Refused('expired or not for us');
  return claims;
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString()));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

async function exchange(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { role } = JSON.parse(await body(req)) as { role?: string };
  const claims = verified((req.headers.authorization ?? '').replace(/^Bearer /, ''));
  if (claims.repository !== REPOSITORY || role !== 'deploy') throw new Refused('access denied');
  const jti = String(claims.jti);
  const out = await sts.send(
    new AssumeRoleCommand({
      RoleArn: ROLE_ARN,
      RoleSessionName: `floor-${jti}`.slice(0, 64),
      DurationSeconds: 900,
    }),
  );
  const leaseId = `lease_${randomBytes(16).toString('base64url')}`;
  const now = Date.now();
  const expires = out.Credentials?.Expiration?.getTime() ?? now + 900_000;
  const identity = JSON.stringify({ repository: claims.repository, run_id: claims.run_id });
  const fresh = await submit(() => {
    if (insertJti.run(jti, (claims.exp as number) * 1000).changes !== 1) return false;
    insertLease.run(leaseId, role, REPOSITORY, now, expires);
    insertAudit.run(now, 'allowed', role, leaseId, identity);
    return true;
  });
  if (!fresh) throw new Refused('token replayed');
  send(res, 200, {
    lease_id: leaseId,
    role,
    provider: 'aws',
    expires_at: new Date(expires).toISOString(),
    credentials: {
      access_key_id: out.Credentials?.AccessKeyId,
      secret_access_key: out.Credentials?.SecretAccessKey,
      session_token: out.Credentials?.SessionToken,
    },
  });
}

const server = createServer(
  { keepAliveTimeout: 65_000, requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 32 * 1024 },
  (req, res) => {
    exchange(req, res).catch((err: unknown) =>
      send(res, err instanceof Refused ? 403 : 502, { error: (err as Error).message }),
    );
  },
);
await fetchKeys();
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ msg: 'listening', url: `http://127.0.0.1:${port}` })}\n`);
});
process.on('SIGTERM', () => {
  server.close(() => {
    flush();
    db.close();
    process.exit(0);
  });
  server.closeAllConnections();
});

/**
 * A local AWS STS stand-in: a node:http server on 127.0.0.1 that speaks the STS Query protocol
 * (`POST /`, form-encoded `Action=AssumeRole&Version=2011-06-15&…`) closely enough for the real
 * AWS SDK, for tests, the demo and benchmarks. No network beyond loopback.
 *
 *   const sts = await startStsStandin({ accessKeyId: 'AKIAJITKEYTEST', secretAccessKey: 'test-secret' });
 *   const aws = createAwsProvider({ endpoint: sts.url, region: 'us-east-1',
 *     credentials: { accessKeyId: 'AKIAJITKEYTEST', secretAccessKey: 'test-secret' } });
 *   …
 *   sts.requests      // every request: { action, params, accessKeyId, region, connection, status, error? }
 *   sts.issued        // every credential handed out (fresh random values each call)
 *   sts.callsWith(key) // the calls made with an issued key, as CloudTrail would record them
 *   sts.connections() // TCP connections accepted so far (keep-alive checks)
 *   sts.setDelay(ms)  // wait before every answer (latency benchmarks)
 *   sts.setFailures(n, 'Throttling' | 'InternalFailure' | 'ServiceUnavailable' | 'reset')
 *                     // the next n signed requests fail: 400 Throttling, 500, 503, or a dropped connection
 *   sts.denyRole(arn) // AssumeRole of that role → 403 AccessDenied
 *   sts.advance(ms)   // moves the stand-in's clock (expiry, session policies' aws:CurrentTime)
 *   await sts.stop()
 *
 * Like STS it verifies SigV4 (service `sts`, the region of the credential scope, or only `region`
 * when given; ±15 min clock skew): unknown key → 403 InvalidClientTokenId, wrong signature →
 * 403 SignatureDoesNotMatch. It enforces AssumeRole's limits: RoleArn shape, DurationSeconds
 * 900..43200, RoleSessionName and SourceIdentity 2–64 of `[\w+=,.@-]`, ≤ 50 tags (key 1–128,
 * value ≤ 256 of `[\p{L}\p{Z}\p{N}_.:/=+\-@]`, keys unique ignoring case), Policy valid JSON
 * (MalformedPolicyDocument) and ≤ 2048 characters with the tags (PackedPolicyTooLarge).
 * Errors use STS's XML (`<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>`).
 * GetCallerIdentity works for the configured key (`arn:aws:iam::000000000000:user/jitkey-exchanger`)
 * and for issued credentials (with their session token, until they expire), so end-to-end tests
 * can check that a credential is live. GetCallerIdentity ignores policies, as in AWS; to see a
 * session policy at work, call DecodeAuthorizationMessage with issued credentials: the stand-in
 * evaluates their session policy for `sts:DecodeAuthorizationMessage` at its own clock
 * (`session-policy.ts`) and answers 403 AccessDenied on an explicit or implicit deny. With `record: false` nothing is kept (long benchmarks), and
 * issued credentials are then unknown to GetCallerIdentity.
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { evaluatePolicy } from './session-policy.js';

export type StsFailure = 'Throttling' | 'InternalFailure' | 'ServiceUnavailable' | 'reset';

export interface StsStandinOptions {
  accessKeyId: string;
  secretAccessKey: string;
  /** When set, only requests signed for this region are accepted. */
  region?: string;
  delayMs?: number;
  failFirst?: { count: number; code: StsFailure };
  deniedRoleArns?: string[];
  /** Keep `requests` and `issued` (default true). */
  record?: boolean;
}

export interface StsRequestRecord {
  action: string;
  /** The form parameters as received (`Tags.member.1.Key`, …). */
  params: Record<string, string>;
  /** The key that signed (as claimed, when the signature failed). */
  accessKeyId: string;
  region: string;
  /** Which TCP connection carried it, numbered from 1. */
  connection: number;
  status: number;
  /** STS's error code, or `reset`. */
  error?: string;
  /** When it came, at the stand-in's clock. */
  at: Date;
}

/** A call made with an issued credential, as CloudTrail records it (`cloudtrail-standin.ts`). */
export interface StsCall {
  accessKeyId: string;
  eventName: string;
  at: Date;
  region: string;
  errorCode?: string;
}

export interface IssuedCredential {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
  roleArn: string;
  roleSessionName: string;
  sourceIdentity?: string;
  tags: { key: string; value: string }[];
  policy?: string;
  durationSeconds: number;
  assumedRoleArn: string;
}

export interface StsStandin {
  url: string;
  requests: StsRequestRecord[];
  issued: IssuedCredential[];
  /** The calls made with the issued credential whose access key id this is. */
  callsWith(accessKeyId: string): StsCall[];
  connections(): number;
  setDelay(ms: number): void;
  setFailures(count: number, code?: StsFailure): void;
  denyRole(roleArn: string): void;
  /** Moves the stand-in's clock forward by `ms` (negative: back). */
  advance(ms: number): void;
  stop(): Promise<void>;
}

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const VERSION = '2011-06-15';
const BASE_ACCOUNT = '000000000000';
const BASE_USER_ARN = `arn:aws:iam::${BASE_ACCOUNT}:user/jitkey-exchanger`;
const MAX_BODY = 64 * 1024;
const MAX_SKEW_MS = 15 * 60_000;
const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/\s,]+)\/(\d{8})\/([^/\s,]+)\/([^/\s,]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;
const NAME_CHARS = /^[\w+=,.@-]*$/;
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** node:crypto behind the Checksum interface SignatureV4 expects (faster than a JS SHA-256). */
class NodeSha256 {
  private readonly secret: Uint8Array | string | undefined;
  private hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    if (secret === undefined || typeof secret === 'string') this.secret = secret;
    else if (ArrayBuffer.isView(secret))
      this.secret = new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength);
    else this.secret = new Uint8Array(secret);
    this.hash = this.fresh();
  }
  private fresh() {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
  update(data: string | Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

class StsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const validation = (message: string) => new StsError(400, 'ValidationError', message);
const constraint = (value: string | null, field: string, rule: string) =>
  validation(
    `1 validation error detected: Value ${value === null ? 'null' : `'${value}'`} at '${field}' failed to satisfy constraint: ${rule}`,
  );

function xmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function randomId(prefix: string, length: number): string {
  const bytes = randomBytes(length);
  let out = prefix;
  for (const b of bytes) out += BASE32[b & 31];
  return out;
}

function stableId(prefix: string, seed: string, length: number): string {
  const digest = createHash('sha256').update(seed).digest();
  let out = prefix;
  for (let i = 0; i < length; i++) out += BASE32[digest[i]! & 31];
  return out;
}

function amzDate(text: string | undefined): Date | undefined {
  const m = text ? /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text) : null;
  if (!m) return undefined;
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

const isoSeconds = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function checkName(value: string | undefined, field: string, required: boolean): string | undefined {
  if (value === undefined) {
    if (required) throw constraint(null, field, 'Member must not be null');
    return undefined;
  }
  if (value.length < 2) throw constraint(value, field, 'Member must have length greater than or equal to 2');
  if (value.length > 64) throw constraint(value, field, 'Member must have length less than or equal to 64');
  if (!NAME_CHARS.test(value)) {
    throw constraint(value, field, 'Member must satisfy regular expression pattern: [\\w+=,.@-]*');
  }
  return value;
}

export async function startStsStandin(options: StsStandinOptions): Promise<StsStandin> {
  const record = options.record ?? true;
  const requests: StsRequestRecord[] = [];
  const issued: IssuedCredential[] = [];
  const issuedByKey = new Map<string, IssuedCredential>();
  const denied = new Set(options.deniedRoleArns ?? []);
  const signers = new Map<string, SignatureV4>();
  const socketIds = new WeakMap<Socket, number>();
  let connectionCount = 0;
  let delayMs = options.delayMs ?? 0;
  let failures = options.failFirst?.count ?? 0;
  let failureCode: StsFailure = options.failFirst?.code ?? 'Throttling';
  let clockOffsetMs = 0;
  const clock = () => Date.now() + clockOffsetMs;

  const signerFor = (accessKeyId: string, secretAccessKey: string, region: string): SignatureV4 => {
    const key = `${accessKeyId}\n${region}`;
    let signer = signers.get(key);
    if (!signer) {
      signer = new SignatureV4({
        credentials: { accessKeyId, secretAccessKey },
        region,
        service: 'sts',
        sha256: NodeSha256,
        applyChecksum: false,
      });
      if (accessKeyId === options.accessKeyId) signers.set(key, signer);
    }
    return signer;
  };

  /** Verifies SigV4; returns the caller (the configured key, or an issued credential). */
  async function authenticate(
    req: IncomingMessage,
    path: string,
    query: Record<string, string>,
    body: Buffer,
    rec: StsRequestRecord,
  ): Promise<IssuedCredential | null> {
    const auth = req.headers.authorization;
    if (!auth)
      throw new StsError(403, 'MissingAuthenticationToken', 'Request is missing Authentication Token');
    const m = AUTH.exec(auth);
    if (!m)
      throw new StsError(
        400,
        'IncompleteSignature',
        'Authorization header requires a valid AWS4-HMAC-SHA256 form',
      );
    const [, accessKeyId, shortDate, region, service, signedHeaders, signature] = m as unknown as string[];
    rec.accessKeyId = accessKeyId!;
    rec.region = region!;
    let secret: string;
    let caller: IssuedCredential | null = null;
    if (accessKeyId === options.accessKeyId) secret = options.secretAccessKey;
    else {
      const cred = issuedByKey.get(accessKeyId!);
      if (!cred)
        throw new StsError(
          403,
          'InvalidClientTokenId',
          'The security token included in the request is invalid.',
        );
      if (req.headers['x-amz-security-token'] !== cred.sessionToken) {
        throw new StsError(
          403,
          'InvalidClientTokenId',
          'The security token included in the request is invalid.',
        );
      }
      if (cred.expiration.getTime() <= clock()) {
        throw new StsError(403, 'ExpiredToken', 'The security token included in the request is expired');
      }
      secret = cred.secretAccessKey;
      caller = cred;
    }
    if (service !== 'sts') {
      throw new StsError(
        403,
        'SignatureDoesNotMatch',
        "Credential should be scoped to correct service: 'sts'.",
      );
    }
    if (options.region && region !== options.region) {
      throw new StsError(
        403,
        'SignatureDoesNotMatch',
        `Credential should be scoped to a valid region, not '${region}'.`,
      );
    }
    const signedAt = amzDate(req.headers['x-amz-date'] as string | undefined);
    if (!signedAt || shortDate !== (req.headers['x-amz-date'] as string).slice(0, 8)) {
      throw new StsError(
        400,
        'IncompleteSignature',
        'Date must be in ISO-8601 basic format and match the credential scope.',
      );
    }
    if (Math.abs(clock() - signedAt.getTime()) > MAX_SKEW_MS) {
      throw new StsError(
        403,
        'SignatureDoesNotMatch',
        'Signature expired: the request time is too far from the server time.',
      );
    }
    const names = signedHeaders!.split(';');
    if (!names.includes('host') || !names.includes('x-amz-date')) {
      throw new StsError(403, 'SignatureDoesNotMatch', 'SignedHeaders must include host and x-amz-date.');
    }
    const headers: Record<string, string> = {};
    for (const name of names) {
      const value = req.headers[name];
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
    }
    const contentSha = req.headers['x-amz-content-sha256'];
    if (typeof contentSha === 'string' && contentSha !== createHash('sha256').update(body).digest('hex')) {
      throw new StsError(
        403,
        'SignatureDoesNotMatch',
        'The provided x-amz-content-sha256 header does not match the body.',
      );
    }
    const toSign = new HttpRequest({
      method: req.method ?? 'POST',
      protocol: 'http:',
      hostname: '',
      path,
      query,
      headers,
      body,
    });
    const signed = await signerFor(accessKeyId!, secret, region!).sign(toSign, {
      signingDate: signedAt,
      signableHeaders: new Set(names),
    });
    const expected = /Signature=([0-9a-f]{64})$/.exec(signed.headers.authorization ?? '')?.[1] ?? '';
    if (!timingSafeEqual(Buffer.from(expected.padEnd(64, '0'), 'hex'), Buffer.from(signature!, 'hex'))) {
      throw new StsError(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
      );
    }
    return caller;
  }

  function assumeRole(params: Record<string, string>): string {
    const roleArn = params.RoleArn;
    if (roleArn === undefined) throw constraint(null, 'roleArn', 'Member must not be null');
    if (roleArn.length < 20)
      throw constraint(roleArn, 'roleArn', 'Member must have length greater than or equal to 20');
    if (roleArn.length > 2048)
      throw constraint(roleArn, 'roleArn', 'Member must have length less than or equal to 2048');
    const arn = ROLE_ARN.exec(roleArn);
    if (!arn) throw validation(`${roleArn} is invalid`);
    const sessionName = checkName(params.RoleSessionName, 'roleSessionName', true)!;
    const sourceIdentity = checkName(params.SourceIdentity, 'sourceIdentity', false);
    let duration = 3600;
    if (params.DurationSeconds !== undefined) {
      duration = Number(params.DurationSeconds);
      if (!/^\d+$/.test(params.DurationSeconds)) {
        throw validation(`Value '${params.DurationSeconds}' for parameter DurationSeconds is invalid.`);
      }
      if (duration < 900) {
        throw constraint(
          params.DurationSeconds,
          'durationSeconds',
          'Member must have value greater than or equal to 900',
        );
      }
      if (duration > 43_200) {
        throw constraint(
          params.DurationSeconds,
          'durationSeconds',
          'Member must have value less than or equal to 43200',
        );
      }
    }
    const tags: { key: string; value: string }[] = [];
    const seen = new Set<string>();
    for (let i = 1; params[`Tags.member.${i}.Key`] !== undefined; i++) {
      const key = params[`Tags.member.${i}.Key`]!;
      const value = params[`Tags.member.${i}.Value`] ?? '';
      if (key.length < 1 || key.length > 128 || !TAG_CHARS.test(key)) {
        throw constraint(
          key,
          `tags.${i}.member.key`,
          'Member must have length 1-128 and satisfy [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+',
        );
      }
      if (value.length > 256 || !TAG_CHARS.test(value)) {
        throw constraint(
          value,
          `tags.${i}.member.value`,
          'Member must have length 0-256 and satisfy [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*',
        );
      }
      if (seen.has(key.toLowerCase())) {
        throw validation('Duplicate tag keys found. Please note that Tag keys are case insensitive.');
      }
      seen.add(key.toLowerCase());
      tags.push({ key, value });
    }
    if (tags.length > 50)
      throw constraint(String(tags.length), 'tags', 'Member must have length less than or equal to 50');
    const policy = params.Policy;
    if (policy !== undefined) {
      try {
        JSON.parse(policy);
      } catch {
        throw new StsError(400, 'MalformedPolicyDocument', 'The policy is not in the valid JSON format.');
      }
    }
    let packedXml = '';
    if (policy !== undefined || tags.length > 0) {
      let size = policy?.length ?? 0;
      for (const t of tags) size += t.key.length + t.value.length;
      const percent = Math.max(1, Math.ceil((size * 100) / 2048));
      if (percent > 100) {
        throw new StsError(
          400,
          'PackedPolicyTooLarge',
          `Packed policy consumes ${percent}% of allotted space, please use smaller policy for this request.`,
        );
      }
      packedXml = `<PackedPolicySize>${percent}</PackedPolicySize>`;
    }
    if (denied.has(roleArn)) {
      throw new StsError(
        403,
        'AccessDenied',
        `User: ${BASE_USER_ARN} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
      );
    }
    const roleName = arn[2]!;
    const assumedRoleArn = `arn:aws:sts::${arn[1]}:assumed-role/${roleName}/${sessionName}`;
    const cred: IssuedCredential = {
      accessKeyId: randomId('ASIA', 16),
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: `IQoJb3JpZ2luX2VjE${randomBytes(144).toString('base64')}`,
      expiration: new Date(Math.floor(clock() / 1000) * 1000 + duration * 1000),
      roleArn,
      roleSessionName: sessionName,
      tags,
      durationSeconds: duration,
      assumedRoleArn,
    };
    if (sourceIdentity !== undefined) cred.sourceIdentity = sourceIdentity;
    if (policy !== undefined) cred.policy = policy;
    if (record) {
      issued.push(cred);
      issuedByKey.set(cred.accessKeyId, cred);
    }
    return (
      `<AssumeRoleResponse xmlns="${NS}"><AssumeRoleResult><Credentials>` +
      `<AccessKeyId>${cred.accessKeyId}</AccessKeyId><SecretAccessKey>${cred.secretAccessKey}</SecretAccessKey>` +
      `<SessionToken>${cred.sessionToken}</SessionToken><Expiration>${isoSeconds(cred.expiration)}</Expiration>` +
      `</Credentials><AssumedRoleUser><AssumedRoleId>${stableId('AROA', roleArn, 17)}:${xmlEscape(sessionName)}</AssumedRoleId>` +
      `<Arn>${xmlEscape(assumedRoleArn)}</Arn></AssumedRoleUser>` +
      (sourceIdentity !== undefined ? `<SourceIdentity>${xmlEscape(sourceIdentity)}</SourceIdentity>` : '') +
      `${packedXml}</AssumeRoleResult>`
    );
  }

  function getCallerIdentity(caller: IssuedCredential | null): string {
    const [arn, userId, account] = caller
      ? [
          caller.assumedRoleArn,
          `${stableId('AROA', caller.roleArn, 17)}:${caller.roleSessionName}`,
          caller.roleArn.split(':')[4]!,
        ]
      : [BASE_USER_ARN, stableId('AIDA', options.accessKeyId, 17), BASE_ACCOUNT];
    return (
      `<GetCallerIdentityResponse xmlns="${NS}"><GetCallerIdentityResult><Arn>${xmlEscape(arn)}</Arn>` +
      `<UserId>${xmlEscape(userId)}</UserId><Account>${account}</Account></GetCallerIdentityResult>`
    );
  }

  /** An action governed by policies: the caller's session policy decides, at the stand-in's clock. */
  function decodeAuthorizationMessage(
    caller: IssuedCredential | null,
    params: Record<string, string>,
  ): string {
    const action = 'sts:DecodeAuthorizationMessage';
    if (caller?.policy !== undefined) {
      const decision = evaluatePolicy(caller.policy, action, new Date(clock()));
      if (decision !== 'allow') {
        const why =
          decision === 'explicit-deny'
            ? 'with an explicit deny in a session policy'
            : 'because no session policy allows it';
        throw new StsError(
          403,
          'AccessDenied',
          `User: ${caller.assumedRoleArn} is not authorized to perform: ${action} ${why}`,
        );
      }
    }
    if (params.EncodedMessage === undefined)
      throw constraint(null, 'encodedMessage', 'Member must not be null');
    return `<DecodeAuthorizationMessageResponse xmlns="${NS}"><DecodeAuthorizationMessageResult><DecodedMessage>${xmlEscape(
      JSON.stringify({ allowed: false, message: params.EncodedMessage }),
    )}</DecodedMessage></DecodeAuthorizationMessageResult>`;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const requestId = randomUUID();
    const rec: StsRequestRecord = {
      action: '',
      params: {},
      accessKeyId: '',
      region: '',
      connection: socketIds.get(req.socket) ?? 0,
      status: 0,
      at: new Date(clock()),
    };
    if (record) requests.push(rec);
    const qIndex = (req.url ?? '/').indexOf('?');
    const rawPath = qIndex < 0 ? (req.url ?? '/') : (req.url ?? '/').slice(0, qIndex);
    const query: Record<string, string> = {};
    const params: Record<string, string> = {};
    if (qIndex >= 0) {
      for (const [k, v] of new URLSearchParams((req.url ?? '').slice(qIndex + 1))) query[k] = params[k] = v;
    }
    if (body.length > 0) for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params[k] = v;
    rec.params = params;
    rec.action = params.Action ?? '';
    let status = 200;
    let xml: string;
    try {
      const caller = await authenticate(req, decodeURIComponent(rawPath), query, body, rec);
      if (failures > 0) {
        failures--;
        const code = failureCode;
        if (code === 'reset') {
          rec.status = 0;
          rec.error = 'reset';
          await wait();
          req.socket.destroy();
          return;
        }
        if (code === 'Throttling') throw new StsError(400, 'Throttling', 'Rate exceeded');
        if (code === 'ServiceUnavailable') {
          throw new StsError(
            503,
            'ServiceUnavailable',
            'The request has failed due to a temporary failure of the server.',
          );
        }
        throw new StsError(
          500,
          'InternalFailure',
          'The request processing has failed because of an unknown error.',
        );
      }
      if (params.Version !== VERSION) {
        throw new StsError(
          400,
          'InvalidAction',
          `Could not find operation ${rec.action} for version ${params.Version ?? 'NO_VERSION_SPECIFIED'}`,
        );
      }
      let result: string;
      if (rec.action === 'AssumeRole') {
        if (caller) throw new StsError(403, 'AccessDenied', 'The stand-in does not chain roles.');
        result = assumeRole(params);
      } else if (rec.action === 'GetCallerIdentity') result = getCallerIdentity(caller);
      else if (rec.action === 'DecodeAuthorizationMessage')
        result = decodeAuthorizationMessage(caller, params);
      else
        throw new StsError(
          400,
          'InvalidAction',
          `Could not find operation ${rec.action} for version ${VERSION}`,
        );
      xml = `${result}<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${rec.action}Response>`;
    } catch (err) {
      const e =
        err instanceof StsError
          ? err
          : new StsError(500, 'InternalFailure', 'The stand-in failed on this request.');
      status = e.status;
      rec.error = e.code;
      xml =
        `<ErrorResponse xmlns="${NS}"><Error><Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type>` +
        `<Code>${e.code}</Code><Message>${xmlEscape(e.message)}</Message></Error>` +
        `<RequestId>${requestId}</RequestId></ErrorResponse>`;
    }
    rec.status = status;
    await wait();
    res.writeHead(status, {
      'content-type': 'text/xml',
      'content-length': Buffer.byteLength(xml),
      'x-amzn-requestid': requestId,
    });
    res.end(xml);
  }

  const wait = () => (delayMs > 0 ? new Promise<void>((r) => setTimeout(r, delayMs)) : Promise.resolve());

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY) {
        res.writeHead(413, { connection: 'close' }).end();
        return;
      }
      handle(req, res, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
  });
  server.on('connection', (socket: Socket) => {
    socketIds.set(socket, ++connectionCount);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    issued,
    callsWith: (accessKeyId) =>
      requests
        .filter((r) => r.accessKeyId === accessKeyId && r.status > 0)
        .map((r) => ({
          accessKeyId,
          eventName: r.action,
          at: r.at,
          region: r.region,
          ...(r.error ? { errorCode: r.error } : {}),
        })),
    connections: () => connectionCount,
    setDelay(ms) {
      delayMs = ms;
    },
    setFailures(count, code = 'Throttling') {
      failures = count;
      failureCode = code;
    },
    denyRole(roleArn) {
      denied.add(roleArn);
    },
    advance(ms) {
      clockOffsetMs += ms;
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

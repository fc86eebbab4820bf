// biome-ignore-all lint/suspicious/noTemplateCurlyInString: session_tags templates are written `${claim}`
/** The pure parts of the AWS provider: AssumeRole parameters and the mapping of SDK failures. */
import { describe, expect, it } from 'vitest';
import { JitkeyError } from '../../exchanger/errors.js';
import { isRetryable, outcomeOf, toJitkeyError } from '../../exchanger/providers/aws-errors.js';
import {
  assumeRoleInput,
  escapeTagValue,
  roleSessionName,
  sessionTags,
  sourceIdentity,
} from '../../exchanger/providers/aws-params.js';
import { awsRole, CLAIMS, mintRequest } from './aws-fixtures.js';

const STS_NAME = /^[\w+=,.@-]{2,64}$/;
const STS_TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;

describe('assumeRoleInput', () => {
  it('omits what the role and token do not give', () => {
    const { actor: _, ...claims } = CLAIMS;
    expect(assumeRoleInput(mintRequest({ claims }))).toEqual({
      RoleArn: 'arn:aws:iam::111122223333:role/deploy/web-deploy',
      RoleSessionName: 'jitkey-9876543210-2',
      DurationSeconds: 900,
    });
  });

  it('refuses a role without an aws block as an internal error', () => {
    const role = { ...awsRole(), aws: undefined };
    expect(() => assumeRoleInput(mintRequest({ role }))).toThrow(JitkeyError);
  });
});

describe('names', () => {
  it.each([
    ['9876543210', '2', 'jitkey-9876543210-2'],
    ['9876543210', undefined, 'jitkey-9876543210'],
    ['a b\u0000c\u00e9', '1', 'jitkey-a_b_c_-1'],
    ['9'.repeat(100), '1', `jitkey-${'9'.repeat(57)}`],
  ])('run_id %j, run_attempt %j → %s', (runId, attempt, want) => {
    const name = roleSessionName({ run_id: runId, run_attempt: attempt }, 'lease');
    expect(name).toBe(want);
    expect(name).toMatch(STS_NAME);
  });

  it('falls back to the lease id, itself sanitised and cut', () => {
    expect(roleSessionName({ run_id: 42 }, 'x/y'.repeat(40))).toMatch(/^jitkey-x_yx_y/);
    expect(roleSessionName({}, 'x/y'.repeat(40))).toHaveLength(39);
  });

  it.each([
    ['octocat', 'octocat'],
    ['dependabot[bot]', 'dependabot_bot_'],
    ['user_acme', 'user_acme'],
    ['a', undefined],
    ['', undefined],
    ['x'.repeat(64), 'x'.repeat(64)],
    ['x'.repeat(65), undefined],
    [12, undefined],
  ])('source identity from actor %j → %j', (actor, want) => {
    expect(sourceIdentity({ actor })).toBe(want);
  });
});

describe('session tags', () => {
  it('expands several claims in one template and keeps literal text', () => {
    const role = awsRole({ sessionTags: { where: 'gh:${repository}@${ref}', fixed: 'ci' } });
    expect(sessionTags(role, CLAIMS)).toEqual([
      { Key: 'where', Value: 'gh:acme/web@refs/heads/main' },
      { Key: 'fixed', Value: 'ci' },
    ]);
  });

  it.each([
    { name: 'missing', claims: { ...CLAIMS, environment: undefined } },
    { name: 'not a string', claims: { ...CLAIMS, environment: 7 } },
    { name: 'inherited', claims: Object.create({ environment: 'production' }) as Record<string, unknown> },
  ])('refuses a template whose claim is $name', ({ claims }) => {
    const role = awsRole({ sessionTags: { env: '${environment}' } });
    expect(() => sessionTags(role, claims)).toThrow(/session tag 'env' uses \$\{environment\}/);
  });

  it('refuses a value over 256 characters rather than cutting it', () => {
    const role = awsRole({ sessionTags: { ref: '${ref}' } });
    expect(() => sessionTags(role, { ref: `refs/heads/${'b'.repeat(250)}` })).toThrow(
      /would be 261 characters/,
    );
  });

  it.each([
    ['refs/heads/main', 'refs/heads/main'],
    ['Deploy (prod) & more', 'Deploy =28prod=29 =26 more'],
    ['a=b', 'a=3Db'],
    ['é日本 ü', 'é日本 ü'],
    ['rocket 🚀', 'rocket =F0=9F=9A=80'],
    ['tab\there', 'tab=09here'],
  ])('escapes %j as %j', (raw, want) => {
    expect(escapeTagValue(raw)).toBe(want);
    expect(escapeTagValue(raw)).toMatch(STS_TAG_VALUE);
  });

  it('never maps two different values to one tag value', () => {
    const values = ['a_b', 'a!b', 'a=21b', 'a=b', 'a=3Db', 'a b', 'a\u00a0b', 'a#b', 'a=23b'];
    const escaped = new Set(values.map(escapeTagValue));
    expect(escaped.size).toBe(values.length);
  });
});

describe('SDK failures', () => {
  const sdkError = (name: string, status: number | undefined, extra: Record<string, unknown> = {}) =>
    Object.assign(new Error(`upstream says ${name}`), {
      name,
      $metadata: status === undefined ? {} : { httpStatusCode: status, requestId: 'rid-1' },
      ...extra,
    });
  const ctx = { role: 'r', region: 'ap-east-1', attempts: 1 };

  it.each([
    { name: 'Throttling', status: 400, retry: true, outcome: 'throttled' },
    { name: 'ThrottlingException', status: 400, retry: true, outcome: 'throttled' },
    { name: 'RequestLimitExceeded', status: 400, retry: true, outcome: 'throttled' },
    { name: 'Unknown', status: 429, retry: true, outcome: 'throttled' },
    { name: 'InternalFailure', status: 500, retry: true, outcome: 'error' },
    { name: 'Unknown', status: 502, retry: true, outcome: 'error' },
    { name: 'AccessDenied', status: 403, retry: false, outcome: 'refused' },
    { name: 'ValidationError', status: 400, retry: false, outcome: 'refused' },
    { name: 'TimeoutError', status: undefined, retry: true, outcome: 'error' },
    { name: 'Error', status: undefined, retry: false, outcome: 'error' },
  ])('$name / $status: retry $retry, outcome $outcome', ({ name, status, retry, outcome }) => {
    const err = sdkError(name, status);
    expect(isRetryable(err)).toBe(retry);
    expect(outcomeOf(err)).toBe(outcome);
  });

  it.each(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN'])(
    'network %s is retried',
    (code) => {
      expect(isRetryable(Object.assign(new Error('x'), { code }))).toBe(true);
    },
  );

  it.each([
    {
      err: sdkError('RegionDisabledException', 403),
      want: "AWS STS refused AssumeRole for role 'r': RegionDisabledException — STS is not activated in ap-east-1",
    },
    {
      err: sdkError('ValidationError', 400, {
        message: 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.',
      }),
      want: "AWS STS refused AssumeRole for role 'r': ValidationError — the duration exceeds the role's MaxSessionDuration",
    },
    {
      err: sdkError('ExpiredTokenException', 400, { Error: { Code: 'ExpiredToken' } }),
      want: "AWS STS refused AssumeRole for role 'r': ExpiredToken — the exchanger's own AWS credentials have expired",
    },
    {
      err: sdkError('MalformedPolicyDocumentException', 400, { Error: { Code: 'MalformedPolicyDocument' } }),
      want: "AWS STS refused AssumeRole for role 'r': MalformedPolicyDocument — the role's session_policy",
    },
    {
      err: sdkError('CredentialsProviderError', undefined),
      want: "AssumeRole for role 'r' not attempted: the exchanger has no usable AWS credentials",
    },
    { err: sdkError('Bad\nCode<x>', 400), want: "AWS STS refused AssumeRole for role 'r': UnknownError" },
  ])('maps $err.name to a message with a hint', ({ err, want }) => {
    const mapped = toJitkeyError(err, ctx);
    expect(mapped.code).toBe('upstream_error');
    expect(mapped.message.startsWith(want)).toBe(true);
    expect(mapped.message).not.toContain('upstream says');
    expect(mapped.cause).toBe(err);
  });

  it('keeps STS’s own message and request id for operators only', () => {
    const mapped = toJitkeyError(sdkError('AccessDenied', 403), ctx);
    expect(mapped.detail).toBe('upstream says AccessDenied; sts request id rid-1');
  });

  it('passes a JitkeyError through', () => {
    const e = new JitkeyError('invalid_request', 'no');
    expect(toJitkeyError(e, ctx)).toBe(e);
  });
});

/**
 * Builds the STS AssumeRole parameters from a mint request, within STS's own limits. Pure: no I/O.
 *
 * - DurationSeconds: the granted duration as is, within STS's 900..43200 s. A lease of 60..899 s
 *   asks STS for 900 s and ends by the session policy's `aws:CurrentTime` Deny (`aws-lease-end.ts`).
 *   Outside 60..43200 s the request is refused (`invalid_request`), never raised or shortened, with
 *   one exception: the run attempt's last lease, which its `max_duration` cut below 60 s (`endsAt`),
 *   is issued like any short lease and denied from the `max_duration` end on, so renewals reach it.
 * - RoleSessionName: the job in its system's terms: `jitkey-<run_id>-<run_attempt>` (GitHub),
 *   `jitkey-gl-<pipeline_id>-<job_id>` (GitLab), `jitkey-bk-<build_number>-<pipeline_slug>`
 *   (Buildkite), else `jitkey-<lease id prefix>` (CircleCI's tokens name no run); characters
 *   outside `[\w+=,.@-]` become `_`; at most 64 characters.
 * - SourceIdentity: who the job ran for (`actor`, GitLab `user_login@<instance host>`, CircleCI
 *   `<user id>@circleci.com`), characters outside `[\w+=,.@-]` replaced by `_`
 *   (`dependabot[bot]` → `dependabot_bot_`). Another system's user is never written bare: a
 *   GitLab user may take any GitHub login (and a UUID is one), and IAM conditions and CloudTrail
 *   read `octocat` as GitHub's.
 *   Omitted when the token names nobody (Buildkite) or the result is not 2–64 characters long: it
 *   is never truncated, since IAM conditions may compare it.
 * - Tags: `session_tags` templates with `${claim}` replaced by the token's own string claim. A claim
 *   the token lacks (or holds as a non-string) refuses the exchange (`invalid_request`): dropping the
 *   tag or writing '' would let `StringNotEquals`/`…IfExists` conditions pass unexpectedly.
 *   Characters of a claim value that STS does not allow in tag values, and `=` itself, are written
 *   `=XX` (UTF-8 bytes, hex): an injective escape, so two different claim values can never become
 *   the same tag value (plain replacement would let branch `a!b` pose as `a_b`). A value over 256
 *   characters is refused rather than truncated, for the same reason.
 * - Policy: the role's session policy as JSON, with the lease-end Deny for leases under 900 s.
 */
import type { AssumeRoleCommandInput, Tag } from '@aws-sdk/client-sts';
import { claimText, jobKind, ownClaim } from '../claims.js';
import { formatDuration } from '../duration.js';
import { JitkeyError } from '../errors.js';
import type { Role } from '../policy/model/types.js';
import { AWS_MIN_LEASE_SECONDS } from '../policy/validate/validate-role.js';
import { leaseEndPolicy } from './aws-lease-end.js';
import type { MintRequest } from './types.js';

export const STS_MIN_DURATION_SECONDS = 900;
export const STS_MAX_DURATION_SECONDS = 43_200;
const NAME_MAX = 64;
const TAG_VALUE_MAX = 256;

/** Characters STS allows in RoleSessionName and SourceIdentity. */
const NAME_DISALLOWED = /[^\w+=,.@-]/g;
/** One code point STS allows in a tag value, other than `=` (which the escape itself uses). */
const TAG_CHAR_OK = /^[\p{L}\p{Z}\p{N}_.:/+\-@]$/u;
const TEMPLATE = /\$\{([^}]*)\}/g;

function sanitizeName(text: string): string {
  return text.replace(NAME_DISALLOWED, '_');
}

/** `lastOfRun`: the run attempt's max_duration cut this lease, so under 60 s is what is left. */
export function checkDuration(role: Role, seconds: number, lastOfRun = false): void {
  if (!Number.isSafeInteger(seconds) || seconds < (lastOfRun ? 1 : AWS_MIN_LEASE_SECONDS)) {
    throw new JitkeyError(
      'invalid_request',
      `role '${role.name}' was asked for ${formatDuration(seconds)}, but an AWS lease lasts at ` +
        `least ${AWS_MIN_LEASE_SECONDS} s (1m): request a duration of 1m or more`,
    );
  }
  if (seconds > STS_MAX_DURATION_SECONDS) {
    throw new JitkeyError(
      'invalid_request',
      `role '${role.name}' was asked for ${formatDuration(seconds)}, but AWS STS allows at most ` +
        `${STS_MAX_DURATION_SECONDS} s (12h)`,
    );
  }
}

export function roleSessionName(claims: MintRequest['claims'], leaseId: string): string {
  const name = jobSessionName(claims) ?? `jitkey-${leaseId.slice(0, 32)}`;
  return sanitizeName(name).slice(0, NAME_MAX);
}

/** The job in its own system's terms, or undefined when the token names no run (CircleCI's). */
function jobSessionName(claims: MintRequest['claims']): string | undefined {
  const get = (name: string) => {
    const v = claimText(claims, name);
    return v ? v : undefined;
  };
  const kind = jobKind(claims);
  if (kind === 'gitlab') {
    const [pipeline, job] = [get('pipeline_id'), get('job_id')];
    return pipeline ? `jitkey-gl-${pipeline}${job ? `-${job}` : ''}` : undefined;
  }
  if (kind === 'buildkite') {
    const [pipeline, build] = [get('pipeline_slug'), get('build_number')];
    return pipeline && build ? `jitkey-bk-${build}-${pipeline}` : undefined;
  }
  if (kind === 'circleci') return undefined;
  const runId = ownClaim(claims, 'run_id');
  const attempt = ownClaim(claims, 'run_attempt');
  if (typeof runId !== 'string' || runId === '') return undefined;
  return `jitkey-${runId}${typeof attempt === 'string' && attempt !== '' ? `-${attempt}` : ''}`;
}

/**
 * Who the job ran for, as its system names them: GitHub's `actor`, GitLab's `user_login` at its
 * instance's host, CircleCI's user id (from `sub`, `…/user/<id>`) at circleci.com. Buildkite's
 * tokens name no person.
 */
export function sourceIdentity(claims: MintRequest['claims']): string | undefined {
  const kind = jobKind(claims);
  const at = (who: unknown, host: string | undefined) =>
    typeof who === 'string' && who && host ? `${who}@${host}` : undefined;
  let who: unknown;
  if (kind === 'gitlab') who = at(ownClaim(claims, 'user_login'), issuerHost(ownClaim(claims, 'iss')));
  else if (kind === 'circleci') {
    const sub = ownClaim(claims, 'sub');
    who = at(typeof sub === 'string' ? /\/user\/([^/]+)/.exec(sub)?.[1] : undefined, 'circleci.com');
  } else if (kind === 'github') who = ownClaim(claims, 'actor');
  if (typeof who !== 'string') return undefined;
  const value = sanitizeName(who);
  return value.length >= 2 && value.length <= NAME_MAX ? value : undefined;
}

function issuerHost(iss: unknown): string | undefined {
  try {
    return typeof iss === 'string' ? new URL(iss).hostname || undefined : undefined;
  } catch {
    return undefined;
  }
}

/** The injective escape of a claim value into STS's tag-value alphabet. */
export function escapeTagValue(value: string): string {
  let out = '';
  for (const ch of value) {
    if (TAG_CHAR_OK.test(ch)) out += ch;
    else
      for (const byte of Buffer.from(ch, 'utf8'))
        out += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function sessionTags(role: Role, claims: MintRequest['claims']): Tag[] | undefined {
  const templates = role.aws?.sessionTags;
  if (!templates) return undefined;
  const tags: Tag[] = [];
  const github = jobKind(claims) === 'github';
  for (const [key, template] of Object.entries(templates)) {
    const value = template.replace(TEMPLATE, (_, claim: string) => {
      // GitHub's claims are strings; another system's documented number (Buildkite's
      // build_number) is its text.
      const own = ownClaim(claims, claim);
      const v = github ? (typeof own === 'string' ? own : undefined) : claimText(claims, claim);
      if (v === undefined) {
        throw new JitkeyError(
          'invalid_request',
          `role '${role.name}': session tag '${key}' uses \${${claim}} but the token has no string claim '${claim}'`,
        );
      }
      return escapeTagValue(v);
    });
    if (value.length > TAG_VALUE_MAX) {
      throw new JitkeyError(
        'invalid_request',
        `role '${role.name}': session tag '${key}' would be ${value.length} characters; AWS STS allows at most ${TAG_VALUE_MAX}`,
      );
    }
    tags.push({ Key: key, Value: value });
  }
  return tags.length > 0 ? tags : undefined;
}

/**
 * When the lease ends before STS's own expiry: the run attempt's max_duration end when that cut
 * it, else `now` + the duration; in whole seconds, rounded down (the policy's date has no
 * fraction). Undefined for leases STS can end itself (900 s or more).
 */
export function shortLeaseEnd(
  request: Pick<MintRequest, 'durationSeconds' | 'endsAt'>,
  now: Date,
): Date | undefined {
  if (request.durationSeconds >= STS_MIN_DURATION_SECONDS) return undefined;
  const end = request.endsAt?.getTime() ?? now.getTime() + request.durationSeconds * 1000;
  return new Date(Math.floor(end / 1000) * 1000);
}

/** Throws JitkeyError `invalid_request` when the request cannot be expressed within STS's limits. */
export function assumeRoleInput(request: MintRequest, now: Date = new Date()): AssumeRoleCommandInput {
  const { role, claims } = request;
  const aws = role.aws;
  if (!aws) throw new JitkeyError('internal_error', `role '${role.name}' has no aws configuration`);
  checkDuration(role, request.durationSeconds, request.endsAt !== undefined);
  const input: AssumeRoleCommandInput = {
    RoleArn: aws.roleArn,
    RoleSessionName: roleSessionName(claims, request.leaseId),
    DurationSeconds: Math.max(request.durationSeconds, STS_MIN_DURATION_SECONDS),
  };
  const identity = sourceIdentity(claims);
  if (identity !== undefined) input.SourceIdentity = identity;
  const tags = sessionTags(role, claims);
  if (tags) input.Tags = tags;
  const end = shortLeaseEnd(request, now);
  if (end) input.Policy = leaseEndPolicy(aws.sessionPolicy, end);
  else if (aws.sessionPolicy) input.Policy = JSON.stringify(aws.sessionPolicy);
  return input;
}

/**
 * What both approval stores (`approvals-sqlite.ts`, `approvals-postgres.ts`) share (each implements
 * `ApprovalStore`, `approvals-types.ts`): the list limit, the approvals as JSON, and one `approval_requests` row read
 * back as a record. Each dialect says how its times and JSON columns decode.
 */
import type { ApprovalRequestRecord, ApprovalStatus, ApprovalVote } from './approvals-types.js';
import { ms } from './rows.js';

export const DEFAULT_APPROVAL_LIST_LIMIT = 100;

export function votesJson(votes: readonly ApprovalVote[]): string {
  return JSON.stringify(
    votes.map((v) => ({
      login: v.login,
      id: v.id,
      at: new Date(ms(v.at, 'approvals.at')).toISOString(),
      ...(v.reason !== undefined ? { reason: v.reason } : {}),
    })),
  );
}

export function parseVotes(value: unknown): ApprovalVote[] {
  const list = (typeof value === 'string' ? JSON.parse(value) : (value ?? [])) as Array<
    Record<string, string>
  >;
  return list.map((v) => ({
    login: String(v.login),
    id: String(v.id),
    at: new Date(String(v.at)),
    ...(typeof v.reason === 'string' ? { reason: v.reason } : {}),
  }));
}

/** An `approval_requests` row as the driver returns it: times as `Time`, approvers and claims as `Json`. */
export interface RequestRowOf<Time, Json> {
  id: string;
  role: string;
  status: string;
  version: number;
  poll_token_hash: string;
  created_at: Time;
  expires_at: Time;
  duration_seconds: number | null;
  approvers: Json;
  required: number;
  claims: Json;
  approvals: unknown;
  reason: string | null;
  decided_by: string | null;
  lease_id: string | null;
  redeemed_at: Time | null;
}

export interface RowDecoding<Time, Json> {
  time(value: Time): Date;
  json(value: Json): unknown;
}

export function requestRecord<Time, Json>(
  row: RequestRowOf<Time, Json>,
  decode: RowDecoding<Time, Json>,
): ApprovalRequestRecord {
  return {
    id: row.id,
    role: row.role,
    status: row.status as ApprovalStatus,
    version: row.version,
    pollTokenHash: row.poll_token_hash,
    createdAt: decode.time(row.created_at),
    expiresAt: decode.time(row.expires_at),
    ...(row.duration_seconds !== null ? { durationSeconds: row.duration_seconds } : {}),
    approvers: decode.json(row.approvers) as string[],
    required: row.required,
    claims: decode.json(row.claims) as Record<string, string>,
    approvals: parseVotes(row.approvals),
    ...(row.reason !== null ? { reason: row.reason } : {}),
    ...(row.decided_by !== null ? { decidedBy: row.decided_by } : {}),
    ...(row.lease_id !== null ? { leaseId: row.lease_id } : {}),
    ...(row.redeemed_at !== null ? { redeemedAt: decode.time(row.redeemed_at) } : {}),
  };
}

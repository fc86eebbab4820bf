/**
 * The lease file `jitkey credentials --lease-file F` writes (0600: it holds the revoke token) and
 * `jitkey credentials revoke --lease-file F` reads at the job's end: it revokes the lease, then
 * deletes the files the exchange wrote (they hold credentials) and the lease file itself.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { clean } from '../text/clean.js';
import { parse, UsageError } from './args.js';
import type { CredentialsDeps } from './credentials-deps.js';
import { describeFailure, EXIT, exitCodeFor } from './credentials-errors.js';
import { removeFile } from './credentials-io.js';
import { ExchangeFailure, exchangeClient, type Lease } from './exchange-client.js';

export const REVOKE_USAGE = 'jitkey credentials revoke --lease-file FILE [--url URL]';

export interface LeaseFile {
  url: string;
  lease_id: string;
  revoke_token: string;
  role: string;
  provider: string;
  expires_at: string;
  /** The files the exchange wrote for the job (credentials), deleted on revoke. */
  files: string[];
}

export function leaseFileText(url: string, lease: Lease, files: string[]): string {
  const file: LeaseFile = {
    url,
    lease_id: lease.lease_id,
    revoke_token: lease.revoke_token,
    role: lease.role,
    provider: lease.provider,
    expires_at: lease.expires_at,
    files,
  };
  return `${JSON.stringify(file)}\n`;
}

/**
 * The lease file's text, only when this user wrote it (0600, its own), in a directory of this
 * user's that no one else may write, and not through a link: the path is predictable
 * (`/tmp/jitkey-$CI_JOB_ID`), and a file another user left there, or a link they left to this
 * user's lease file of another job, would name a lease to revoke and files to delete.
 */
function readOwnFile(path: string): string {
  const uid = process.getuid?.();
  const refused = () =>
    new UsageError(
      `--lease-file ${path} is not a lease file jitkey credentials wrote for this user (it writes them 0600, its own, in a directory of its own); ` +
        'nothing was revoked or deleted',
    );
  const dirPath = dirname(path);
  const dir = lstatSync(dirPath, { throwIfNoEntry: false });
  // No directory, no lease file: said as a missing file is (ENOENT, below).
  if (!dir) throw Object.assign(new Error(`${dirPath} does not exist`), { code: 'ENOENT' });
  if (!dir.isDirectory() || (uid !== undefined && dir.uid !== uid) || (dir.mode & 0o022) !== 0) {
    throw refused();
  }
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    // A symbolic link in the file's place.
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw refused();
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) throw refused();
    // The open resolved the directory again: it must still be the one checked (not swapped for a
    // link meanwhile), and the file opened the one the path names now.
    const dirNow = lstatSync(dirPath, { throwIfNoEntry: false });
    const fileNow = lstatSync(path, { throwIfNoEntry: false });
    const same = (a: { dev: number; ino: number } | undefined, b: { dev: number; ino: number }) =>
      a !== undefined && a.dev === b.dev && a.ino === b.ino;
    if (!same(dirNow, dir) || !same(fileNow, st)) throw refused();
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

function readLeaseFile(path: string): LeaseFile {
  let parsed: Partial<LeaseFile>;
  try {
    parsed = JSON.parse(readOwnFile(path)) as Partial<LeaseFile>;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ENOENT'
        ? `--lease-file ${path} does not exist: no lease was issued in this job (or it was revoked already)`
        : `--lease-file ${path} is not a lease file jitkey credentials wrote`,
    );
  }
  const ok = (v: unknown): v is string => typeof v === 'string' && v !== '';
  if (!ok(parsed.url) || !ok(parsed.lease_id) || !ok(parsed.revoke_token)) {
    throw new UsageError(`--lease-file ${path} is not a lease file jitkey credentials wrote`);
  }
  return {
    url: parsed.url,
    lease_id: parsed.lease_id,
    revoke_token: parsed.revoke_token,
    role: String(parsed.role ?? ''),
    provider: String(parsed.provider ?? ''),
    expires_at: String(parsed.expires_at ?? ''),
    files: Array.isArray(parsed.files) ? parsed.files.filter(ok) : [],
  };
}

/** Exit 0 when revoked (or already gone), 1 when refused, 4 when the exchanger cannot be reached. */
export async function revokeCommand(argv: string[], deps: CredentialsDeps): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { 'lease-file': { type: 'string' }, url: { type: 'string' } },
    REVOKE_USAGE,
  );
  if (positionals.length) throw new UsageError(`unexpected '${positionals[0]}'\n\nusage: ${REVOKE_USAGE}`);
  const path = values['lease-file'];
  if (!path) throw new UsageError(`--lease-file is required\n\nusage: ${REVOKE_USAGE}`);
  const lease = readLeaseFile(path);
  const url = values.url ?? lease.url;
  const client = exchangeClient({ url, userAgent: deps.userAgent });
  let gone = 'revoked';
  try {
    await client.revoke(lease);
  } catch (e) {
    if (!(e instanceof ExchangeFailure)) throw e;
    if (e.code !== 'not_found') {
      deps.err(describeFailure(`Revoking lease ${clean(lease.lease_id)}`, e));
      deps.err(
        `Its credentials stay valid until ${clean(lease.expires_at) || 'they expire'}; ${path} is kept for a retry.\n`,
      );
      return exitCodeFor(e);
    }
    gone = 'found no lease to revoke (already revoked, or ended) for';
  }
  // The credentials files go whether the lease was revoked now or before; the lease file last.
  for (const file of lease.files) removeFile(file);
  removeFile(path);
  deps.err(
    `jitkey: ${gone} lease ${clean(lease.lease_id)} (role ${clean(lease.role)})` +
      (lease.files.length ? `; deleted ${lease.files.map(clean).join(', ')}` : '') +
      '.\n',
  );
  return EXIT.ok;
}

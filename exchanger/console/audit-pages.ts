/**
 * The audit screen and its downloads. Admins read every row; anyone else signed in reads the rows
 * of the requests they approved or denied (`decidedBy`), whatever else they filter on. A page is
 * one keyset read (`store.auditPage`); a download streams every filtered row from
 * `store.streamAudit` through `audit/export.ts`, written as it is read and waiting for the
 * browser when its buffer is full, so a million rows never sit in memory.
 */
import type { ServerResponse } from 'node:http';
import { writeAudit } from '../audit/export.js';
import { JitkeyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AuditEntry, AuditFilter } from '../store/audit-types.js';
import type { Store } from '../store/types.js';
import { parseAuditQuery } from './audit-filter.js';
import { SECURITY_HEADERS, sendHtml } from './respond.js';
import type { ConsolePage } from './router.js';
import type { SignedIn } from './session.js';
import { auditPage } from './view-audit.js';

export const AUDIT_PAGE_ROWS = 50;
/**
 * Downloads streamed at once by this process: each holds a store connection while it lasts
 * (PostgreSQL's pool has ten), so downloads never take the exchanges' connections.
 */
export const MAX_DOWNLOADS = 2;
const DOWNLOAD_STALL_MS = 60_000;

export interface AuditPageDeps {
  store: Pick<Store, 'auditPage' | 'streamAudit'>;
  isAdmin: (who: SignedIn) => Promise<boolean>;
  log: Logger;
  now: () => Date;
  /** A download whose browser takes nothing for this long is cut, and its connection freed. */
  downloadStallMs?: number;
}

const FORMATS = {
  jsonl: { format: 'json', type: 'application/x-ndjson; charset=utf-8', ext: 'jsonl' },
  csv: { format: 'csv', type: 'text/csv; charset=utf-8', ext: 'csv' },
} as const;

export function auditPages(deps: AuditPageDeps): ConsolePage[] {
  /** The filter asked for, narrowed to this person's share of the trail. */
  const scoped = async (who: SignedIn, filter: AuditFilter) => {
    const admin = await deps.isAdmin(who);
    return { admin, filter: admin ? filter : { ...filter, decidedBy: { login: who.login, id: who.id } } };
  };

  const page = async (res: ServerResponse, who: SignedIn, url: URL) => {
    const parsed = parseAuditQuery(url.searchParams, deps.now());
    const { admin, filter } = await scoped(who, parsed.filter);
    const found = await deps.store.auditPage(filter, {
      limit: AUDIT_PAGE_ROWS,
      ...(parsed.after ? { after: parsed.after } : {}),
    });
    sendHtml(res, 200, auditPage({ who, admin, page: found, fields: parsed.fields, first: !parsed.after }));
  };

  let downloading = 0;
  const download = async (res: ServerResponse, who: SignedIn, url: URL) => {
    const kind = FORMATS[(url.searchParams.get('format') ?? 'jsonl') as keyof typeof FORMATS];
    if (!kind) return page(res, who, url);
    if (downloading >= MAX_DOWNLOADS) {
      throw new JitkeyError('rate_limited', 'Other audit downloads are running; try again in a minute.', {
        retryAfter: 60,
      });
    }
    downloading++;
    try {
      await stream(res, who, url, kind);
    } finally {
      downloading--;
    }
  };

  const stream = async (
    res: ServerResponse,
    who: SignedIn,
    url: URL,
    kind: (typeof FORMATS)[keyof typeof FORMATS],
  ) => {
    const parsed = parseAuditQuery(url.searchParams, deps.now());
    const { filter } = await scoped(who, parsed.filter);
    // The first rows are read before the answer starts, so a store that fails gets an error page.
    const rows = deps.store.streamAudit(filter)[Symbol.asyncIterator]();
    const first = await rows.next();
    const stamp = deps.now().toISOString().slice(0, 19).replace(/[-:]/g, '');
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': kind.type,
      'content-disposition': `attachment; filename="jitkey-audit-${stamp}.${kind.ext}"`,
      'cache-control': 'no-store',
    });
    const entries: AsyncIterable<AuditEntry> = {
      async *[Symbol.asyncIterator]() {
        if (first.done) return;
        yield first.value;
        for (let next = await rows.next(); !next.done; next = await rows.next()) yield next.value;
      },
    };
    try {
      const { shown } = await writeAudit({
        entries,
        format: kind.format,
        out: res,
        stallMs: deps.downloadStallMs ?? DOWNLOAD_STALL_MS,
      });
      res.end();
      deps.log.info('console audit download', { by: who.login, format: kind.ext, rows: shown });
    } catch (err) {
      // Cut short: the browser marks the download failed rather than keep a file that looks whole.
      await rows.return?.();
      deps.log.warn('console audit download stopped', { by: who.login, error: err as Error });
      res.destroy();
    }
  };

  return [
    {
      method: 'GET',
      path: /^\/console\/audit$/,
      session: 'required',
      run: (p) => page(p.res, p.who!, p.url),
    },
    {
      method: 'GET',
      path: /^\/console\/audit\/export$/,
      session: 'required',
      run: (p) => download(p.res, p.who!, p.url),
    },
  ];
}

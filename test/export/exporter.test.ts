/**
 * The export loop against a SIEM intake stand-in on loopback and a real SQLite store: retries
 * honour `Retry-After`, the cursor moves only for what was acknowledged, refusals (a bad token,
 * a redirect) stop a one-shot export with the cursor where it was, and the token is never in a
 * log line or a message. The file sink cuts a batch it wrote but whose cursor move was lost.
 */
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runExporter } from '../../exchanger/export/exporter.js';
import { ocsfEvent } from '../../exchanger/export/ocsf.js';
import { planExport } from '../../exchanger/export/settings.js';
import { SinkError } from '../../exchanger/export/sink.js';
import { fileSink } from '../../exchanger/export/sink-file.js';
import { httpsSink } from '../../exchanger/export/sink-https.js';
import { createLogger } from '../../exchanger/log.js';
import { EXPORT_START } from '../../exchanger/store/export-cursor-types.js';
import { openStore } from '../../exchanger/store/open.js';
import type { Store } from '../../exchanger/store/types.js';
import { entry } from '../store/contract.js';
import { type SiemStandin, startSiemStandin } from '../support/siem-standin.js';

const dir = mkdtempSync(join(tmpdir(), 'jitkey-exporter-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const TOKEN = '8c1f3f0e-hec-token-d2b1e0a7c9e4';

const open: (Store | SiemStandin)[] = [];
afterEach(async () => {
  for (const x of open.splice(0)) 'close' in x ? await x.close() : await x.stop();
});

async function storeWith(rows: number): Promise<Store> {
  const store = await openStore(`sqlite:${join(dir, `e${++n}.db`)}`, { purgeIntervalMs: 0 });
  open.push(store);
  for (let i = 0; i < rows; i++)
    await store.record(entry({ requestId: `r${i}`, at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)) }));
  return store;
}

async function standin(options: Parameters<typeof startSiemStandin>[0]) {
  const s = await startSiemStandin(options);
  open.push(s);
  return s;
}

function captured() {
  const lines: string[] = [];
  return { log: createLogger({ level: 'debug', write: (l) => lines.push(l) }), text: () => lines.join('') };
}

const uids = (events: Record<string, unknown>[]) => events.map((e) => (e.metadata as { uid: string }).uid);

describe('runExporter', () => {
  it('waits as Retry-After says on 503 and 429, and sends each row once, in order', async () => {
    const store = await storeWith(12);
    const siem = await standin({
      kind: 'splunk',
      token: TOKEN,
      plan: (i) =>
        i === 2 ? { status: 503, retryAfter: '3' } : i === 4 ? { status: 429, retryAfter: '1' } : 'ok',
    });
    const waits: number[] = [];
    const { log, text } = captured();
    const run = () =>
      runExporter({
        store,
        sink: httpsSink({ url: siem.url, body: 'splunk-hec', headers: { authorization: `Splunk ${TOKEN}` } }),
        toLine: (r) => ocsfEvent(r),
        name: 'hec',
        holder: 'test',
        log,
        batchSize: 5,
        sleep: async (ms) => void waits.push(ms),
      });
    expect((await run()).exported).toBe(12);
    expect(siem.answers).toEqual([200, 503, 200, 429, 200]);
    expect(waits).toEqual([3000, 1000]);
    const rows = (await store.queryAudit({ limit: 100 })).length;
    expect(uids(siem.acknowledged)).toHaveLength(rows);
    expect(new Set(uids(siem.acknowledged)).size).toBe(rows);
    // Every request carried the token; no log line did.
    expect(siem.headersSeen.every((h) => h.authorization === `Splunk ${TOKEN}`)).toBe(true);
    expect(text()).toContain('503');
    expect(text()).not.toContain(TOKEN);
    // The cursor stands after the last row: nothing more to send.
    expect((await run()).exported).toBe(0);
  });

  it('stops a one-shot export on a refused token, the cursor unmoved and the token unsaid', async () => {
    const store = await storeWith(3);
    const siem = await standin({ kind: 'splunk', token: TOKEN });
    const wrong = 'Splunk 0000-wrong-token-0000';
    const failure = await runExporter({
      store,
      sink: httpsSink({ url: siem.url, body: 'splunk-hec', headers: { authorization: wrong } }),
      toLine: (r) => ocsfEvent(r),
      name: 'hec',
      holder: 'test',
      log: captured().log,
    }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SinkError);
    expect((failure as SinkError).permanent).toBe(true);
    expect((failure as Error).message).toMatch(/answered 403: check the credential header/);
    expect((failure as Error).message).not.toContain('wrong-token');
    expect(siem.acknowledged).toEqual([]);
    expect(
      await store.claimExportCursor('hec', 'someone-else', new Date(), new Date(Date.now() + 1000)),
    ).toEqual(EXPORT_START);
  });

  it('refuses a redirect rather than following it with the headers', async () => {
    const store = await storeWith(2);
    const elsewhere = await standin({ kind: 'json' });
    const siem = await standin({ kind: 'json', plan: () => ({ redirect: elsewhere.url }) });
    const failure = await runExporter({
      store,
      sink: httpsSink({ url: siem.url, body: 'ndjson', headers: { authorization: 'Bearer secret-value' } }),
      toLine: (r) => ocsfEvent(r),
      name: 'json',
      holder: 'test',
      log: captured().log,
    }).catch((err: unknown) => err);
    expect((failure as Error).message).toMatch(/answered 307 \(a redirect\): redirects are not followed/);
    expect(elsewhere.answers).toEqual([]);
  });

  it.each(['ndjson', 'array'] as const)('sends a %s body the JSON intake accepts', async (body) => {
    const store = await storeWith(7);
    const siem = await standin({ kind: 'json' });
    const plan = planExport({ format: 'cloudevents', to: siem.url, body, source: 'urn:jitkey:test' }, {});
    const result = await runExporter({
      store,
      sink: await plan.openSink(),
      toLine: plan.toLine,
      name: plan.where,
      holder: 'test',
      log: captured().log,
      batchSize: 3,
    });
    expect(result.exported).toBe(7);
    expect(siem.answers).toEqual([200, 200, 200]);
    expect(siem.acknowledged.map((e) => e.id)).toEqual(Array.from({ length: 7 }, (_, i) => `audit-${i + 1}`));
    expect(siem.acknowledged.every((e) => e.specversion === '1.0' && e.source === 'urn:jitkey:test')).toBe(
      true,
    );
  });

  it('does not send a batch again once another exporter took the cursor during a long Retry-After', async () => {
    const store = await storeWith(3);
    const siem = await standin({
      kind: 'json',
      plan: (i) => (i === 1 ? { status: 503, retryAfter: '300' } : 'ok'),
    });
    let clock = Date.UTC(2026, 0, 2);
    let taken: unknown;
    const failure = await runExporter({
      store,
      sink: httpsSink({ url: siem.url, body: 'ndjson', headers: {} }),
      toLine: (r) => ocsfEvent(r),
      name: 'json',
      holder: 'first',
      log: captured().log,
      now: () => new Date(clock),
      // Five minutes pass; the 2-minute hold ran out, and a second exporter takes the cursor.
      sleep: async (ms) => {
        clock += ms;
        taken = await store.claimExportCursor('json', 'second', new Date(clock), new Date(clock + 120_000));
      },
    }).catch((err: unknown) => err);
    expect(taken).toEqual(EXPORT_START);
    expect(siem.answers).toEqual([503]);
    expect((failure as Error).name).toBe('CursorHeldError');
  });

  it('gives up a one-shot export after the attempts allowed, keeping the cursor', async () => {
    const store = await storeWith(2);
    const siem = await standin({ kind: 'json', plan: () => ({ status: 503 }) });
    const failure = await runExporter({
      store,
      sink: httpsSink({ url: siem.url, body: 'ndjson', headers: {} }),
      toLine: (r) => ocsfEvent(r),
      name: 'json',
      holder: 'test',
      log: captured().log,
      maxAttempts: 3,
      sleep: async () => {},
    }).catch((err: unknown) => err);
    expect((failure as Error).message).toMatch(/answered 503/);
    expect(siem.answers).toEqual([503, 503, 503]);
    expect((await store.readExport(EXPORT_START, 10)).length).toBe(2);
    expect(await store.claimExportCursor('json', 'other', new Date(), new Date(Date.now() + 1000))).toEqual(
      EXPORT_START,
    );
  });
});

describe('file sink', () => {
  it('cuts a batch written after the saved state, so a restart writes it once', async () => {
    const path = join(dir, 'audit.jsonl');
    const sink = await fileSink(path);
    const first = await sink.send([{ line: '{"n":1}', time: new Date() }]);
    await sink.send([{ line: '{"n":2}', time: new Date() }]); // written; its cursor move "lost"
    await sink.close();
    const again = await fileSink(path);
    await again.resume(first);
    await again.send([{ line: '{"n":2}', time: new Date() }]);
    await again.close();
    expect(readFileSync(path, 'utf8')).toBe('{"n":1}\n{"n":2}\n');
  });

  it('leaves a file that was rotated away alone', async () => {
    const path = join(dir, 'rotated.jsonl');
    const sink = await fileSink(path);
    const state = await sink.send([{ line: '{"n":1}', time: new Date() }]);
    await sink.close();
    rmSync(path);
    writeFileSync(path, 'someone else wrote this, after rotation\n');
    const again = await fileSink(path);
    await again.resume(state);
    await again.send([{ line: '{"n":2}', time: new Date() }]);
    await again.close();
    expect(readFileSync(path, 'utf8')).toBe('someone else wrote this, after rotation\n{"n":2}\n');
  });

  it('follows a file rotated away while it runs: the next batch goes to the new file', async () => {
    const path = join(dir, 'live.jsonl');
    const sink = await fileSink(path);
    await sink.send([{ line: '{"n":1}', time: new Date() }]);
    // logrotate's rename-and-create, then a plain delete.
    renameSync(path, `${path}.1`);
    writeFileSync(path, '');
    await sink.send([{ line: '{"n":2}', time: new Date() }]);
    rmSync(path);
    await sink.send([{ line: '{"n":3}', time: new Date() }]);
    await sink.close();
    expect(readFileSync(`${path}.1`, 'utf8')).toBe('{"n":1}\n');
    expect(readFileSync(path, 'utf8')).toBe('{"n":3}\n');
  });

  it('cuts a batch that failed part-way from the file it went to, rotated away before the retry', async () => {
    const path = join(dir, 'partial.jsonl');
    const sink = await fileSink(path);
    await sink.send([{ line: '{"n":1}', time: new Date() }]);
    // What a write cut short by a full disk leaves; the sink's next try comes after a rotation.
    appendFileSync(path, '{"n":2,"parti');
    renameSync(path, `${path}.1`);
    await sink.send([{ line: '{"n":2}', time: new Date() }]);
    await sink.close();
    expect(readFileSync(`${path}.1`, 'utf8')).toBe('{"n":1}\n');
    expect(readFileSync(path, 'utf8')).toBe('{"n":2}\n');
  });
});

describe('planExport', () => {
  it.each([
    [{ format: 'json' }, /unknown format 'json': write ocsf or cloudevents/],
    [{ to: 'ftp://x' }, /write stdout, file:PATH or an https:\/\/ URL/],
    [{ to: 'http://siem.example.com/x' }, /must use https/],
    [{ to: 'https://siem.example.com/x', body: 'xml' }, /unknown --body 'xml'/],
    [{ to: 'stdout', headers: ['Authorization: x'] }, /for an https:\/\/ sink only/],
    [
      { to: 'https://s.example/x', headerEnvs: ['Authorization=NOPE_UNSET'] },
      /variable NOPE_UNSET is not set/,
    ],
    [{ to: 'https://s.example/x', headers: ['Bad Name: x'] }, /not an HTTP header name/],
  ])('refuses %o', (options, message) => {
    expect(() => planExport(options, {})).toThrow(message);
  });

  it.each([
    ['Authorization Splunk hec-secret-value'],
    ['Authorization=Splunk hec-secret-value'],
    ['Authorization Splunk hec-secret-value: x'],
  ])('quotes a mistyped --header %s by its name only', (item) => {
    let message = '';
    try {
      planExport({ to: 'https://s.example/x', headers: [item] }, {});
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^--header.*'Authorization…'/);
    expect(message).not.toContain('hec-secret-value');
    expect(message).not.toContain('Splunk');
  });

  it('refuses a URL without quoting its query, which may carry a token', () => {
    expect(() => planExport({ to: 'http://siem.example.com/x?token=s3cret-hec&a=b' }, {})).toThrow(
      "'http://siem.example.com/x?…' must use https",
    );
  });

  it('reads a header from a file or a variable, and never puts its value in a message', () => {
    const file = join(dir, 'hec-token');
    writeFileSync(file, `Splunk ${TOKEN}\n`);
    const plan = planExport(
      {
        to: 'https://splunk.example.com:8088/services/collector/event?channel=x',
        body: 'splunk-hec',
        headerFiles: [`Authorization=${file}`],
        headerEnvs: ['X-Extra=EXTRA'],
      },
      { EXTRA: 'value' },
    );
    expect(plan.where).toBe('https://splunk.example.com:8088/services/collector/event');
    expect(() =>
      planExport({ to: 'https://s.example/x', headerFiles: ['Authorization=/nonexistent'] }, {}),
    ).toThrow(/cannot read \/nonexistent: ENOENT/);
  });
});

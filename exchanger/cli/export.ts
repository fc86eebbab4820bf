/**
 * `jitkey export`: the audit trail and lease activity as OCSF or CloudEvents JSON lines, to
 * standard output, a file or an HTTPS endpoint (docs/siem-export.md). One-shot by default (sends
 * what is there, then exits); `--follow` keeps sending as rows arrive, until SIGTERM or SIGINT.
 * The cursor in the store remembers what each sink has acknowledged.
 */
import { parseDuration } from '../duration.js';
import { CursorHeldError, DEFAULT_BATCH, DEFAULT_POLL_MS, runExporter } from '../export/exporter.js';
import { startExport } from '../export/from-env.js';
import { holderGone, thisHolder } from '../export/holder.js';
import { type ExportPlan, ExportSettingsError, planExport } from '../export/settings.js';
import { SinkError } from '../export/sink.js';
import { createLogger, parseLogLevel } from '../log.js';
import { openStore } from '../store/open.js';
import { parse, UsageError } from './args.js';

const USAGE =
  "jitkey export [--store URL] [--format ocsf|cloudevents] [--to stdout|file:PATH|https://…] [--body ndjson|array|splunk-hec] [--header 'Name: value'] [--header-file Name=PATH] [--header-env Name=VAR] [--name CURSOR] [--source URI] [--batch N] [--follow] [--poll 5s]";

export async function exportCommand(argv: string[]): Promise<number> {
  const env = process.env;
  const { values, positionals } = parse(
    argv,
    {
      store: { type: 'string', default: env.JITKEY_STORE ?? 'sqlite:./jitkey.db' },
      format: { type: 'string', default: 'ocsf' },
      to: { type: 'string', default: 'stdout' },
      body: { type: 'string' },
      header: { type: 'string', multiple: true },
      'header-file': { type: 'string', multiple: true },
      'header-env': { type: 'string', multiple: true },
      name: { type: 'string' },
      source: { type: 'string' },
      batch: { type: 'string' },
      follow: { type: 'boolean', default: false },
      poll: { type: 'string' },
    },
    USAGE,
  );
  if (positionals.length) throw new UsageError(`unexpected '${positionals[0]}'\n\nusage: ${USAGE}`);
  let plan: ExportPlan;
  try {
    plan = planExport(
      {
        format: values.format as string,
        to: values.to as string,
        body: values.body as string | undefined,
        headers: values.header as string[] | undefined,
        headerFiles: values['header-file'] as string[] | undefined,
        headerEnvs: values['header-env'] as string[] | undefined,
        source: values.source as string | undefined,
      },
      env,
    );
  } catch (err) {
    if (err instanceof ExportSettingsError) throw new UsageError(`${err.message}\n\nusage: ${USAGE}`);
    throw err;
  }
  const batchSize = positiveInt(values.batch as string | undefined, '--batch', DEFAULT_BATCH);
  const pollMs = values.poll === undefined ? DEFAULT_POLL_MS : durationMs(values.poll as string, '--poll');
  const log = createLogger({ level: parseLogLevel(env.JITKEY_LOG_LEVEL) });
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const store = await openStore(values.store as string, { log, purgeIntervalMs: 0 });
  // Each sink keeps its own cursor unless told otherwise: a new sink starts at the beginning.
  const name = (values.name as string | undefined) ?? plan.where;
  if (values.follow === true) {
    // Until SIGTERM / SIGINT; a store that fails meanwhile is tried again, not the end.
    try {
      const running = await startExport({ plan, name, batchSize, pollMs }, { store, log });
      if (!stop.signal.aborted) {
        await new Promise<void>((resolve) =>
          stop.signal.addEventListener('abort', () => resolve(), { once: true }),
        );
      }
      await running.stop();
      return 0;
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      await store.close();
    }
  }
  const sink = await plan.openSink();
  try {
    const { exported } = await runExporter({
      store,
      sink,
      toLine: plan.toLine,
      name,
      holder: thisHolder(),
      gone: holderGone,
      log,
      batchSize,
      signal: stop.signal,
    });
    process.stderr.write(`jitkey export: ${exported} event(s) to ${plan.where} (${plan.format})\n`);
    return 0;
  } catch (err) {
    if (err instanceof CursorHeldError || err instanceof SinkError) {
      process.stderr.write(`jitkey export: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await sink.close();
    await store.close();
  }
}

function positiveInt(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > 10_000) {
    throw new UsageError(`invalid ${flag} '${text}': write a whole number from 1 to 10000`);
  }
  return n;
}

function durationMs(text: string, flag: string): number {
  try {
    return parseDuration(text) * 1000;
  } catch {
    throw new UsageError(`invalid ${flag} '${text}': write a duration such as 5s or 1m`);
  }
}

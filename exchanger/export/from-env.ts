/**
 * The export inside `jitkey serve`, from the environment (docs/siem-export.md):
 *
 *   JITKEY_EXPORT_TO=https://…|file:PATH|stdout   turns it on (default: off)
 *   JITKEY_EXPORT_FORMAT=ocsf|cloudevents          default ocsf
 *   JITKEY_EXPORT_BODY=ndjson|array|splunk-hec     an HTTPS sink's body, default ndjson
 *   JITKEY_EXPORT_HEADER_FILE=Name=PATH[,…]        header values read from files (a HEC token)
 *   JITKEY_EXPORT_HEADER_ENV=Name=VARIABLE[,…]     header values read from other variables
 *   JITKEY_EXPORT_NAME, JITKEY_EXPORT_SOURCE, JITKEY_EXPORT_BATCH, JITKEY_EXPORT_POLL_INTERVAL
 *
 * Checked at the start (a bad value stops it, saying what to write); run in the background,
 * never on a request's path, by one process (worker 1). A failure of the store or the sink is
 * logged and tried again; requests never wait for the export.
 */
import { parseDuration } from '../duration.js';
import type { Logger } from '../log.js';
import type { ExportCursorStore } from '../store/export-cursor-types.js';
import { abortableSleep, DEFAULT_BATCH, DEFAULT_POLL_MS, runExporter } from './exporter.js';
import { holderGone, thisHolder } from './holder.js';
import { type ExportPlan, planExport } from './settings.js';

type Env = Record<string, string | undefined>;

export interface ExportEnvSettings {
  plan: ExportPlan;
  name: string;
  batchSize: number;
  pollMs: number;
}

const list = (value: string | undefined) =>
  value
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** Undefined when `JITKEY_EXPORT_TO` is not set. */
export function exportFromEnv(env: Env): ExportEnvSettings | undefined {
  const to = env.JITKEY_EXPORT_TO?.trim();
  if (!to) return undefined;
  let plan: ExportPlan;
  try {
    plan = planExport(
      {
        to,
        format: env.JITKEY_EXPORT_FORMAT?.trim() || undefined,
        body: env.JITKEY_EXPORT_BODY?.trim() || undefined,
        headerFiles: list(env.JITKEY_EXPORT_HEADER_FILE),
        headerEnvs: list(env.JITKEY_EXPORT_HEADER_ENV),
        source: env.JITKEY_EXPORT_SOURCE?.trim() || undefined,
      },
      env,
    );
  } catch (err) {
    // The flags' names in the message become the variables'.
    const message = (err as Error).message
      .replace(/--header-file/g, 'JITKEY_EXPORT_HEADER_FILE')
      .replace(/--header-env/g, 'JITKEY_EXPORT_HEADER_ENV')
      .replace(/--body/g, 'JITKEY_EXPORT_BODY')
      .replace(/--to/g, 'JITKEY_EXPORT_TO');
    throw new Error(`JITKEY_EXPORT_…: ${message}`);
  }
  const batchText = env.JITKEY_EXPORT_BATCH?.trim();
  const batchSize = batchText ? Number(batchText) : DEFAULT_BATCH;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new Error(`JITKEY_EXPORT_BATCH must be a whole number from 1 to 10000, got '${batchText}'`);
  }
  const pollText = env.JITKEY_EXPORT_POLL_INTERVAL?.trim();
  let pollMs = DEFAULT_POLL_MS;
  if (pollText) {
    try {
      pollMs = parseDuration(pollText) * 1000;
    } catch {
      throw new Error(`JITKEY_EXPORT_POLL_INTERVAL must be a duration such as 5s or 1m, got '${pollText}'`);
    }
  }
  return { plan, name: env.JITKEY_EXPORT_NAME?.trim() || plan.where, batchSize, pollMs };
}

/**
 * Opens the sink (a file that cannot be opened fails here, at the start) and runs the export,
 * following, until `stop`; a failure (the store unreachable) waits a poll interval and starts
 * it again from the cursor.
 */
export async function startExport(
  settings: ExportEnvSettings,
  deps: { store: ExportCursorStore; log: Logger },
): Promise<{ stop(): Promise<void> }> {
  const { log } = deps;
  const abort = new AbortController();
  const sink = await settings.plan.openSink();
  log.info('export: sending the audit trail', { sink: sink.name, format: settings.plan.format });
  const running = (async () => {
    while (!abort.signal.aborted) {
      try {
        await runExporter({
          store: deps.store,
          sink,
          toLine: settings.plan.toLine,
          name: settings.name,
          holder: thisHolder(),
          gone: holderGone,
          log,
          batchSize: settings.batchSize,
          follow: true,
          pollMs: settings.pollMs,
          signal: abort.signal,
        });
      } catch (err) {
        log.warn('export: stopped by a failure; starting again', { problem: (err as Error).message });
        await abortableSleep(settings.pollMs, abort.signal);
      }
    }
    await sink.close().catch(() => {});
  })();
  return {
    async stop() {
      abort.abort();
      await running;
    },
  };
}

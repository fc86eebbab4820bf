/**
 * What an export is told (by `jitkey export`'s flags or `jitkey serve`'s `JITKEY_EXPORT_…`
 * variables), checked once: the event format, the sink and its headers. A bad value is an
 * error that says what to write instead. Header values are read here (from a file or a
 * variable) and never appear in a message.
 */
import { readFileSync } from 'node:fs';
import type { ExportRecord } from '../store/export-cursor-types.js';
import { cloudEvent } from './cloudevents.js';
import { ocsfEvent } from './ocsf.js';
import type { Sink } from './sink.js';
import { fileSink, streamSink } from './sink-file.js';
import { HTTPS_BODIES, httpsSink } from './sink-https.js';

export type ExportFormat = 'ocsf' | 'cloudevents';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['ocsf', 'cloudevents'];

export interface ExportOptions {
  format?: string;
  /** `stdout`, `file:PATH` or an `https://` URL. */
  to?: string;
  /** HTTPS only: `ndjson` (default), `array`, `splunk-hec`. */
  body?: string;
  /** `Name: value`, sent as is (not for secrets: they show in `ps`). */
  headers?: string[];
  /** `Name=PATH`: the header's value is the file's content (trimmed). */
  headerFiles?: string[];
  /** `Name=VARIABLE`: the header's value is that environment variable's. */
  headerEnvs?: string[];
  /** CloudEvents `source`. */
  source?: string;
}

export interface ExportPlan {
  format: ExportFormat;
  toLine(record: ExportRecord): string;
  /** Opens the sink (a file is opened here, so a bad path fails at the start). */
  openSink(): Promise<Sink>;
  /** The sink as logs may name it. */
  where: string;
}

export class ExportSettingsError extends Error {
  override name = 'ExportSettingsError';
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * What a message may quote of a header name that was mistyped: up to its first space or `=`,
 * since `--header 'Authorization Splunk <token>: x'` puts the value where the name goes.
 */
const quotedName = (text: string) => text.split(/[\s=]/, 1)[0]!.slice(0, 40);

function header(name: string, value: string, from: string): [string, string] {
  if (!HEADER_NAME.test(name)) {
    throw new ExportSettingsError(
      `${from}: '${quotedName(name)}…' is not an HTTP header name (write Name: value, e.g. Authorization: …)`,
    );
  }
  if (/[\r\n\0]/.test(value)) throw new ExportSettingsError(`${from}: the value of ${name} has a line break`);
  return [name.toLowerCase(), value];
}

function pairs(list: readonly string[] | undefined, flag: string, sep: string): [string, string][] {
  return (list ?? []).map((item) => {
    const at = item.indexOf(sep);
    // A --header item is quoted up to its name only: what follows may be the secret value.
    if (at <= 0)
      throw new ExportSettingsError(
        `${flag} takes NAME${sep}${sep === '=' ? 'SOURCE' : ' value'}, got '${sep === '=' ? item.slice(0, 80) : `${quotedName(item)}…`}'`,
      );
    return [item.slice(0, at).trim(), item.slice(at + 1).trim()];
  });
}

export function readHeaders(
  options: ExportOptions,
  env: Record<string, string | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of pairs(options.headers, '--header', ':')) {
    const [k, v] = header(name, value, '--header');
    out[k] = v;
  }
  for (const [name, path] of pairs(options.headerFiles, '--header-file', '=')) {
    let value: string;
    try {
      value = readFileSync(path, 'utf8').trim();
    } catch (err) {
      throw new ExportSettingsError(
        `--header-file ${name}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    if (value === '') throw new ExportSettingsError(`--header-file ${name}: ${path} is empty`);
    const [k, v] = header(name, value, '--header-file');
    out[k] = v;
  }
  for (const [name, variable] of pairs(options.headerEnvs, '--header-env', '=')) {
    const value = env[variable]?.trim();
    if (!value) throw new ExportSettingsError(`--header-env ${name}: the variable ${variable} is not set`);
    const [k, v] = header(name, value, '--header-env');
    out[k] = v;
  }
  return out;
}

export function planExport(options: ExportOptions, env: Record<string, string | undefined>): ExportPlan {
  const format = EXPORT_FORMATS.find((f) => f === (options.format ?? 'ocsf'));
  if (!format) {
    throw new ExportSettingsError(`unknown format '${options.format}': write ocsf or cloudevents`);
  }
  const source = options.source ?? 'urn:jitkey';
  const toLine =
    format === 'ocsf' ? (r: ExportRecord) => ocsfEvent(r) : (r: ExportRecord) => cloudEvent(r, { source });
  const to = options.to ?? 'stdout';
  const headers = readHeaders(options, env);
  const https = /^https?:\/\//i.test(to);
  if (!https && (options.body !== undefined || Object.keys(headers).length > 0)) {
    throw new ExportSettingsError('--body and headers are for an https:// sink only');
  }
  if (to === 'stdout')
    return { format, toLine, where: 'stdout', openSink: async () => streamSink(process.stdout) };
  if (to.startsWith('file:')) {
    const path = to.slice('file:'.length);
    if (path === '')
      throw new ExportSettingsError('--to file: needs a path, e.g. file:/var/log/jitkey/audit.jsonl');
    return { format, toLine, where: to, openSink: () => fileSink(path) };
  }
  if (!https) {
    throw new ExportSettingsError(`--to '${to.slice(0, 80)}': write stdout, file:PATH or an https:// URL`);
  }
  const body = HTTPS_BODIES.find((b) => b === (options.body ?? 'ndjson'));
  if (!body)
    throw new ExportSettingsError(`unknown --body '${options.body}': write ${HTTPS_BODIES.join(', ')}`);
  let sink: Sink;
  try {
    sink = httpsSink({ url: to, body, headers });
  } catch (err) {
    // The URL rule quotes the URL; a query may carry a token (Splunk's ?token=…), as logs know.
    const query = /\?[^#]*/.exec(to)?.[0];
    const message = (err as Error).message;
    throw new ExportSettingsError(query ? message.replaceAll(query, '?…') : message);
  }
  return { format, toLine, where: sink.name, openSink: async () => sink };
}

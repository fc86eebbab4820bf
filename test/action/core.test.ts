/**
 * src/shared/core.ts against @actions/core: the same calls write the same bytes to stdout and to the
 * file-command files (the random heredoc delimiters aside), and read the same inputs and state.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as actionsCore from '@actions/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type Core, createCore } from '../../src/shared/core.js';

// Real @actions/core fits run(): Core is its API (plus appendSummary).
const _compatible: Omit<Core, 'appendSummary'> = actionsCore;

const FILES = ['GITHUB_ENV', 'GITHUB_OUTPUT', 'GITHUB_STATE'] as const;
const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
  process.exitCode = undefined;
});

function withFiles() {
  const dir = mkdtempSync(join(tmpdir(), 'jitkey-core-'));
  const env: Record<string, string> = {};
  for (const name of FILES) {
    env[name] = join(dir, name);
    writeFileSync(env[name], '');
  }
  return env;
}

function script(core: Omit<Core, 'appendSummary'>) {
  core.setSecret('s3cr%et\nline2');
  core.info('plain: 100% done');
  core.debug('debug\r\nline');
  core.warning('warn, with: colon');
  core.setOutput('lease-id', 'lease_1');
  core.setOutput('multi', 'a\nb');
  core.exportVariable('AWS_ACCESS_KEY_ID', 'AKIA');
  core.saveState('revoke_token', 'rvk');
  core.setFailed('denied:\n  ref refs/heads/x');
}

function capture(fn: () => void): string {
  let out = '';
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => {
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    fn();
  } finally {
    process.stdout.write = write;
  }
  return out;
}

const normalize = (text: string) => text.replace(/ghadelimiter_[0-9a-f-]{36}/g, 'ghadelimiter_X');

describe('core (runner protocol)', () => {
  it('writes what @actions/core writes', () => {
    const theirsEnv = withFiles();
    Object.assign(process.env, theirsEnv);
    const theirs = capture(() => script(actionsCore));
    const theirExit = process.exitCode;
    process.exitCode = undefined;

    const oursEnv: Record<string, string | undefined> = { ...withFiles() };
    let ours = '';
    let ourExit: number | undefined;
    script(createCore({ env: oursEnv, write: (t) => (ours += t), setExitCode: (c) => (ourExit = c) }));

    expect(ours).toBe(theirs);
    expect(ourExit).toBe(theirExit);
    expect(ourExit).toBe(1);
    for (const name of FILES) {
      expect(normalize(readFileSync(oursEnv[name]!, 'utf8'))).toBe(
        normalize(readFileSync(theirsEnv[name]!, 'utf8')),
      );
    }
    expect(oursEnv.AWS_ACCESS_KEY_ID).toBe('AKIA');
    expect(ours).toContain('::add-mask::s3cr%25et%0Aline2');
  });

  it('info keeps a value on its own line: no workflow command rides in on a newline', () => {
    let out = '';
    const core = createCore({ env: {}, write: (t) => (out += t), setExitCode: () => {} });
    // A request id from a hostile exchanger, printed before the secrets are masked.
    core.info('Role needs approval: request req_1\n::stop-commands::pwned\r::add-mask::x.');
    expect(out).toBe('Role needs approval: request req_1 ::stop-commands::pwned ::add-mask::x.\n');
    expect(out.split('\n').filter((line) => line.startsWith('::'))).toEqual([]);
    // The runner's older form, which it finds anywhere in a line, is broken up too.
    out = '';
    core.info('request req_1 ##[stop-commands]tok ##[add-mask]x');
    expect(out).toBe('request req_1 ## [stop-commands]tok ## [add-mask]x\n');
  });

  it('reads inputs and state as @actions/core does', () => {
    const env = { 'INPUT_EXCHANGER-URL': ' https://x ', INPUT_MY_INPUT: 'v', STATE_lease_id: 'l1' };
    Object.assign(process.env, env);
    const ours = createCore({ env: { ...env }, write: () => {}, setExitCode: () => {} });
    for (const name of ['exchanger-url', 'my input', 'missing'])
      expect(ours.getInput(name)).toBe(actionsCore.getInput(name));
    expect(ours.getState('lease_id')).toBe(actionsCore.getState('lease_id'));
  });

  it('appends to the step summary file', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'jitkey-sum-')), 'summary.md');
    writeFileSync(path, '');
    const core = createCore({ env: { GITHUB_STEP_SUMMARY: path }, write: () => {}, setExitCode: () => {} });
    expect(core.appendSummary('# a\n')).toBe(true);
    expect(core.appendSummary('b\n')).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe('# a\nb\n');
    expect(createCore({ env: {}, write: () => {}, setExitCode: () => {} }).appendSummary('x')).toBe(false);
  });
});

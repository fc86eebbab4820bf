/** The runner harness (test/support/runner.ts) itself: its parsers and its leak checks must bite. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  ACTION_YML,
  actionNodes,
  assertMaskedFirst,
  assertNoLeaks,
  inputVariable,
  parseFileCommands,
  parseWorkflowCommands,
  type StepResult,
} from '../support/runner.js';

function step(stdout: string, files: Partial<StepResult['files']> = {}): StepResult {
  const f = { env: '', output: '', state: '', summary: '', ...files };
  const stdoutLines = stdout.split('\n');
  return {
    step: 'main',
    exitCode: 0,
    stdout,
    stderr: '',
    stdoutLines,
    commands: parseWorkflowCommands(stdoutLines),
    env: parseFileCommands(f.env),
    outputs: parseFileCommands(f.output),
    state: parseFileCommands(f.state),
    summary: f.summary,
    files: f,
    workspaceFiles: [],
    stepEnv: {},
  };
}

describe('runner harness', () => {
  it('runs the Action under the Node that action.yml names, and under the one running the tests', () => {
    const using = (parseYaml(readFileSync(ACTION_YML, 'utf8')) as { runs: { using: string } }).runs.using;
    const names = actionNodes().map((n) => n.name);
    expect(names).toContain(using.replace(/^node(\d+)$/, 'node $1'));
    expect(names).toContain(`node ${process.versions.node.split('.')[0]}`);
  });

  it('names inputs as the runner does', () => {
    expect(inputVariable('exchanger-url')).toBe('INPUT_EXCHANGER-URL');
    expect(inputVariable('my input')).toBe('INPUT_MY_INPUT');
  });

  it('parses heredoc and name=value file commands', () => {
    const text = 'A<<ghadelimiter_1\nline1\nline2\nghadelimiter_1\nB=plain\nA<<EOF\nlater\nEOF\n';
    expect(parseFileCommands(text)).toEqual({ A: 'later', B: 'plain' });
    expect(() => parseFileCommands('A<<X\nno end\n')).toThrow(/no closing delimiter/);
  });

  it('decodes workflow commands', () => {
    expect(
      parseWorkflowCommands(['plain', '::error title=a%3Ab%2Cc::one%0Atwo 100%25', '::add-mask::x']),
    ).toEqual([
      { command: 'error', properties: { title: 'a:b,c' }, message: 'one\ntwo 100%', line: 1 },
      { command: 'add-mask', properties: {}, message: 'x', line: 2 },
    ]);
  });

  it('assertMaskedFirst catches a secret printed before its mask, or never masked', () => {
    expect(() => assertMaskedFirst(step('::add-mask::s3cret\nuse s3cret'), ['s3cret'])).not.toThrow();
    expect(() => assertMaskedFirst(step('oops s3cret\n::add-mask::s3cret'), ['s3cret'])).toThrow(
      /before its ::add-mask::/,
    );
    expect(() => assertMaskedFirst(step('nothing'), ['s3cret'])).toThrow(/never masked/);
  });

  it('assertNoLeaks allows only the named entries', () => {
    const ok = step('::add-mask::s3cret', {
      env: 'TOKEN<<d\ns3cret\nd\n',
      state: 'revoke_token<<d\ns3cret\nd\n',
    });
    expect(() =>
      assertNoLeaks(ok, { s: 's3cret' }, { env: ['TOKEN'], state: ['revoke_token'] }),
    ).not.toThrow();
    expect(() => assertNoLeaks(ok, { s: 's3cret' }, { env: ['TOKEN'] })).toThrow(
      /in GITHUB_STATE revoke_token/,
    );
    expect(() => assertNoLeaks(step('::add-mask::s3cret\nlog s3cret'), { s: 's3cret' })).toThrow(
      /on stdout line 1/,
    );
    expect(() => assertNoLeaks(step('', { summary: 'x s3cret' }), { s: 's3cret' })).toThrow(/job summary/);
    expect(() => assertNoLeaks({ ...step(''), workspaceFiles: ['creds.json'] }, { s: 's3cret' })).toThrow(
      /workspace/,
    );
  });
});

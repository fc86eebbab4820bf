/**
 * `--token-command` failures, with real `sh` processes: the message names the flag and how the
 * command ended, never the command text (it may carry a secret).
 */
import { describe, expect, it } from 'vitest';
import { tokenSource } from '../../exchanger/cli/credentials-io.js';

const source = (command: string) =>
  tokenSource(
    { PATH: process.env.PATH },
    { env: undefined, file: undefined, command },
    { env: '--token-env', file: '--token-file', command: '--token-command' },
  )!;

const failure = (command: string) => {
  try {
    source(command).read();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('the command did not fail');
};

describe('--token-command', () => {
  it('names the flag and the exit code of a failing command, not the command', () => {
    const message = failure('exit 3 # --header "Authorization: Bearer s3cr3t-value"');
    expect(message).toBe('--token-command failed (exit 3): its own messages, above, say why');
    expect(message).not.toContain('s3cr3t');
  });

  it('names the signal that ended the command', () => {
    expect(failure('kill -KILL $$')).toBe(
      '--token-command failed (ended by SIGKILL): its own messages, above, say why',
    );
  });

  it('reads the token a succeeding command prints', () => {
    expect(source('echo aaa.bbb.ccc').read()).toBe('aaa.bbb.ccc');
  });
});

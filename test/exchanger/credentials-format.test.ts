/**
 * What `jitkey credentials` writes, for values a credential could hold and a crafted one: a real
 * `sh` reads the export and dotenv lines back to the same bytes, and nothing in a value runs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  credentialProcess,
  dotenvLines,
  exportLines,
  FormatError,
  kubeconfig,
  render,
} from '../../exchanger/cli/credentials-format.js';
import type { Lease } from '../../exchanger/cli/exchange-client.js';

const lease = (provider: Lease['provider'], credentials: Record<string, unknown>): Lease => ({
  lease_id: 'lease_01J0TEST',
  revoke_token: 'rvk_secret',
  role: 'deploy',
  provider,
  expires_at: '2026-12-07T02:00:00Z',
  credentials,
});

/** Sources `text` in sh (as `set -a; . FILE` when `allexport`) and prints NAME's value. */
function readBack(text: string, name: string, allexport = false): { value: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'jitkey-format-'));
  writeFileSync(join(dir, 'file'), text);
  const value = execFileSync(
    'sh',
    ['-c', `cd "$1" && ${allexport ? 'set -a; ' : ''}. ./file && sh -c 'printf %s "$${name}"'`, 'sh', dir],
    { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
  );
  return { value, dir };
}

describe('export lines', () => {
  it.each([
    { name: 'an AWS session token', value: 'IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+/=' },
    {
      name: 'quotes, dollars, backticks and a command substitution',
      value: `a'b "c" $HOME \`id\` $(touch pwned) \\ ;`,
    },
    { name: 'a line break', value: 'line one\nline two' },
  ])('$name: sh reads back the same bytes, and runs nothing', ({ value }) => {
    const { value: read, dir } = readBack(exportLines([['JK_VALUE', value]]), 'JK_VALUE');
    expect(read).toBe(value);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
  });
});

describe('dotenv lines', () => {
  it('writes credential alphabets bare, which `set -a; . FILE` and docker --env-file read alike', () => {
    const text = dotenvLines([
      ['AWS_SECRET_ACCESS_KEY', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY+='],
      ['KUBECONFIG', '/tmp/jitkey-42/kubeconfig'],
    ]);
    expect(text).toBe(
      'AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY+=\nKUBECONFIG=/tmp/jitkey-42/kubeconfig\n',
    );
    expect(readBack(text, 'AWS_SECRET_ACCESS_KEY', true).value).toBe(
      'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY+=',
    );
  });

  it('single-quotes another value, and sh reads it back without running it', () => {
    const value = 'has space $(touch pwned)';
    const text = dotenvLines([['JK_VALUE', value]]);
    expect(text).toBe(`JK_VALUE='${value}'\n`);
    const { value: read, dir } = readBack(text, 'JK_VALUE', true);
    expect(read).toBe(value);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
  });

  it.each(["it's", 'two\nlines'])('refuses %j rather than write what some reader would misread', (value) => {
    expect(() => dotenvLines([['JK_VALUE', value]])).toThrow(FormatError);
  });
});

describe('credential_process and kubeconfig', () => {
  const aws = lease('aws', {
    access_key_id: 'ASIAEXAMPLE',
    secret_access_key: 'secret',
    session_token: 'session',
    expiration: '2026-12-07T02:00:00Z',
  });

  it("is AWS's Version 1 answer, its keys in AWS's order", () => {
    expect(credentialProcess(aws)).toBe(
      '{"Version":1,"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"secret","SessionToken":"session","Expiration":"2026-12-07T02:00:00Z"}\n',
    );
  });

  it('refuses the formats a provider cannot take, naming the one to use', () => {
    const gcp = lease('gcp', { access_token: 'ya29.x' });
    expect(() => credentialProcess(gcp)).toThrow(
      "role 'deploy' issues gcp credentials; credential-process is AWS's format: use --format export",
    );
    expect(() => kubeconfig(aws)).toThrow('a kubeconfig is for kubernetes roles: use --format export');
    expect(() =>
      render('export', lease('kubernetes', { server: 'https://k', namespace: 'web', token: 't' })),
    ).toThrow('a kubernetes lease needs --kubeconfig FILE to export KUBECONFIG');
  });

  it('refuses an answer that lacks a credential field', () => {
    expect(() => render('export', lease('aws', { access_key_id: 'A', secret_access_key: 'S' }))).toThrow(
      "the exchanger's aws credentials lack 'session_token'",
    );
  });
});

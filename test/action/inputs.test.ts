import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { INPUT_DEFAULTS, readInputs } from '../../src/main/inputs.js';
import { ActionError } from '../../src/shared/errors.js';
import { ACTION_YML } from '../support/runner.js';

const base = { 'exchanger-url': 'https://jitkey.acme.internal', role: 'deploy-web-prod' };
const read = (inputs: Record<string, string>) => readInputs((name) => inputs[name] ?? '');
const failure = (inputs: Record<string, string>) => {
  try {
    read(inputs);
  } catch (e) {
    expect(e).toBeInstanceOf(ActionError);
    return (e as ActionError).message;
  }
  throw new Error('expected the inputs to be refused');
};

describe('inputs', () => {
  it('applies the defaults', () => {
    const inputs = read(base);
    expect(inputs).toMatchObject({
      role: 'deploy-web-prod',
      audience: 'jitkey',
      durationSeconds: undefined,
      exportEnv: true,
      outputCredentials: false,
      revoke: true,
      retries: 3,
      approvalTimeoutSeconds: 1800,
      exchangerUrlText: 'https://jitkey.acme.internal',
    });
    expect(inputs.exchangerUrl.href).toBe('https://jitkey.acme.internal/');
  });

  it.each([
    { duration: '15m', seconds: 900 },
    { duration: '1h', seconds: 3600 },
    { duration: '900', seconds: 900 },
    { duration: '1h30m', seconds: 5400 },
  ])('reads duration $duration as $seconds seconds', ({ duration, seconds }) => {
    expect(read({ ...base, duration }).durationSeconds).toBe(seconds);
  });

  it.each(['true', 'True', 'TRUE'])('reads %s as true', (v) => {
    expect(read({ ...base, 'output-credentials': v }).outputCredentials).toBe(true);
  });
  it.each(['false', 'False', 'FALSE'])('reads %s as false', (v) => {
    expect(read({ ...base, 'export-env': v, revoke: v }).exportEnv).toBe(false);
  });

  it.each([
    {
      name: 'yes as a boolean',
      inputs: { 'export-env': 'yes' },
      says: "input 'export-env': must be true or false, got 'yes'",
    },
    { name: '1 as a boolean', inputs: { revoke: '1' }, says: "input 'revoke': must be true or false" },
    {
      name: 'tRUE as a boolean',
      inputs: { 'output-credentials': 'tRUE' },
      says: "input 'output-credentials'",
    },
    {
      name: 'a negative retry count',
      inputs: { retries: '-1' },
      says: "input 'retries': must be a whole number",
    },
    { name: 'a fractional retry count', inputs: { retries: '1.5' }, says: "input 'retries'" },
    {
      name: 'a word as duration',
      inputs: { duration: 'soon' },
      says: "input 'duration': invalid duration 'soon'",
    },
    { name: 'zero duration', inputs: { duration: '0' }, says: "input 'duration'" },
    {
      name: 'a bad approval-timeout',
      inputs: { 'approval-timeout': '30 minutes' },
      says: "input 'approval-timeout'",
    },
    {
      name: 'http to a remote host',
      inputs: { 'exchanger-url': 'http://jitkey.acme.internal' },
      says: 'must use https',
    },
    {
      name: 'another scheme',
      inputs: { 'exchanger-url': 'ftp://jitkey.acme.internal' },
      says: 'must be an https URL',
    },
    {
      name: 'a relative URL',
      inputs: { 'exchanger-url': 'jitkey.acme.internal' },
      says: 'is not an absolute URL',
    },
    { name: 'a URL with a query', inputs: { 'exchanger-url': 'https://x.example/?a=1' }, says: 'query' },
    { name: 'a URL with a password', inputs: { 'exchanger-url': 'https://u:p@x.example' }, says: 'password' },
    { name: 'an empty role', inputs: { role: ' ' }, says: "input 'role': is required" },
  ] as Array<{ name: string; inputs: Record<string, string>; says: string }>)(
    'refuses $name, naming the input',
    ({ inputs, says }) => {
      expect(failure({ ...base, ...inputs })).toContain(says);
    },
  );

  it('reports every bad input at once', () => {
    const message = failure({ 'export-env': 'on', retries: 'many' });
    for (const name of ['exchanger-url', 'role', 'export-env', 'retries'])
      expect(message).toContain(`input '${name}'`);
  });

  it.each(['http://127.0.0.1:8080', 'http://localhost:8080', 'http://[::1]:8080', 'http://127.1.2.3'])(
    'accepts plain http to loopback %s',
    (url) => {
      expect(read({ ...base, 'exchanger-url': url }).exchangerUrl.protocol).toBe('http:');
    },
  );

  it('keeps a path prefix and resolves API paths under it', () => {
    const { exchangerUrl, exchangerUrlText } = read({
      ...base,
      'exchanger-url': 'https://ci.acme.internal/jitkey/',
    });
    expect(exchangerUrlText).toBe('https://ci.acme.internal/jitkey');
    expect(new URL('v1/exchange', exchangerUrl).href).toBe('https://ci.acme.internal/jitkey/v1/exchange');
  });
});

describe('action.yml', () => {
  const doc = parse(readFileSync(ACTION_YML, 'utf8')) as {
    name: string;
    description: string;
    branding: { icon: string; color: string };
    inputs: Record<string, { description: string; required?: boolean; default?: string }>;
    outputs: Record<string, { description: string }>;
    runs: Record<string, string>;
  };

  it('refuses refresh without export-env, saying why', () => {
    const inputs: Record<string, string> = {
      'exchanger-url': 'https://jitkey.example.com',
      role: 'r',
      refresh: 'true',
      'export-env': 'false',
    };
    expect(() => readInputs((n) => inputs[n] ?? '')).toThrow(/refresh': true needs export-env: true/);
    expect(readInputs((n) => ({ ...inputs, 'export-env': 'true' })[n] ?? '').refresh).toBe(true);
  });

  it('declares the inputs of reference.md §4 with their defaults, the same as the code', () => {
    expect(Object.keys(doc.inputs).sort()).toEqual(
      [
        'exchanger-url',
        'role',
        'audience',
        'duration',
        'export-env',
        'output-credentials',
        'revoke',
        'refresh',
        'retries',
        'approval-timeout',
      ].sort(),
    );
    for (const spec of Object.values(doc.inputs)) expect(spec.description.length).toBeGreaterThan(10);
    expect(doc.inputs['exchanger-url']!.required).toBe(true);
    expect(doc.inputs.role!.required).toBe(true);
    const defaults = Object.fromEntries(
      Object.entries(doc.inputs)
        .filter(([, s]) => s.default !== undefined)
        .map(([n, s]) => [n, String(s.default)]),
    );
    expect(defaults).toEqual(INPUT_DEFAULTS);
  });

  it('declares the outputs and runs on node24 with an always-run post step', () => {
    expect(Object.keys(doc.outputs)).toEqual([
      'lease-id',
      'expires-at',
      'provider',
      'aws-access-key-id',
      'aws-secret-access-key',
      'aws-session-token',
      'gcp-access-token',
      'github-token',
      'kubeconfig-path',
      'kubernetes-token',
    ]);
    expect(doc.runs).toEqual({
      using: 'node24',
      main: 'dist/main/index.js',
      post: 'dist/post/index.js',
      'post-if': 'always()',
    });
    expect(doc.name).toBe('jitkey');
    expect(doc.description).toBeTruthy();
    expect(doc.branding).toEqual({ icon: 'key', color: 'green' });
  });
});

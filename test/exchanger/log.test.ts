/**
 * The exchanger's logs (pino): JSON lines, secrets redacted by path, request ids on a child
 * logger, stack traces of unexpected failures kept (the HTTP side: app-edge-cases.test.ts), and an
 * unknown JITKEY_LOG_LEVEL refused.
 */
import { describe, expect, it } from 'vitest';
import { childLogger, createLogger, parseLogLevel, REDACTED, silentLogger } from '../../exchanger/log.js';
import { runCli } from '../support/exchanger-process.js';

function capture(level: 'debug' | 'info' = 'debug') {
  const lines: string[] = [];
  const log = createLogger({ level, write: (line) => lines.push(line), now: () => new Date(0) });
  const parsed = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { log, lines, parsed };
}

describe('log lines', () => {
  it('writes one JSON object a line: level, time, msg, then the fields', () => {
    const { log, lines } = capture();
    log.info('listening', { url: 'http://127.0.0.1:1' });
    expect(lines).toEqual([
      '{"level":"info","time":"1970-01-01T00:00:00.000Z","msg":"listening","url":"http://127.0.0.1:1"}\n',
    ]);
  });

  it('drops lines below the level', () => {
    const { log, parsed } = capture('info');
    log.debug('noise');
    log.warn('kept');
    expect(parsed().map((l) => l.msg)).toEqual(['kept']);
  });

  it.each([
    { name: 'a token', fields: { token: 'eyJ.secret.sig' }, path: ['token'] },
    {
      name: 'an authorization header',
      fields: { headers: { authorization: 'Bearer eyJ.x.y' } },
      path: ['headers', 'authorization'],
    },
    {
      name: 'credentials in a grant',
      fields: { grant: { credentials: { SecretAccessKey: 'wJalr' } } },
      path: ['grant', 'credentials'],
    },
    { name: 'a revoke token', fields: { revoke_token: 'rt_abc' }, path: ['revoke_token'] },
    { name: 'a poll token', fields: { poll_token: 'pt_abc' }, path: ['poll_token'] },
    { name: 'a private key', fields: { private_key: '-----BEGIN' }, path: ['private_key'] },
  ])('redacts $name by path', ({ fields, path }) => {
    const { log, lines, parsed } = capture();
    log.info('x', { ...fields, kept: 'visible' });
    let value: unknown = parsed()[0];
    for (const key of path) value = (value as Record<string, unknown>)[key];
    expect(value).toBe(REDACTED);
    expect(parsed()[0]!.kept).toBe('visible');
    expect(lines.join('')).not.toMatch(/eyJ|wJalr|rt_abc|pt_abc|BEGIN/);
  });

  it('keeps the stack of an error and of its cause, and none of its other properties', () => {
    const { log, parsed } = capture();
    const cause = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const err = Object.assign(new TypeError('unexpected', { cause }), {
      config: { headers: { Authorization: 'Bearer ya29.leak' } },
    });
    log.error('request failed', { error: err });
    const error = parsed()[0]!.error as Record<string, unknown>;
    expect(error).toMatchObject({ type: 'TypeError', message: 'unexpected' });
    expect(error.stack).toMatch(/^TypeError: unexpected\n\s+at .*log\.test\.ts/);
    expect(error.cause).toMatchObject({ type: 'Error', message: 'socket hang up', code: 'ECONNRESET' });
    expect((error.cause as { stack: string }).stack).toMatch(/log\.test\.ts/);
    expect(JSON.stringify(parsed())).not.toContain('ya29');
  });

  it('carries bindings on a child, pino or not', () => {
    const { log, parsed } = capture();
    childLogger(log, { request_id: 'req_1' }).info('exchange', { role: 'deploy' });
    expect(parsed()[0]).toMatchObject({ request_id: 'req_1', msg: 'exchange', role: 'deploy' });

    const seen: unknown[] = [];
    const plain = { ...silentLogger, info: (msg: string, fields?: object) => seen.push({ msg, ...fields }) };
    childLogger(plain, { request_id: 'req_2' }).info('revoke');
    expect(seen).toEqual([{ msg: 'revoke', request_id: 'req_2' }]);
  });
});

describe('JITKEY_LOG_LEVEL', () => {
  it.each([
    [undefined, 'info'],
    ['', 'info'],
    ['debug', 'debug'],
    ['WARN', 'warn'],
    [' error ', 'error'],
  ])('reads %j as %s', (raw, level) => {
    expect(parseLogLevel(raw)).toBe(level);
  });

  it.each(['verbose', 'trace', 'fatal', 'silent', '10'])('refuses %s, naming the levels', (raw) => {
    expect(() => parseLogLevel(raw)).toThrow(
      /JITKEY_LOG_LEVEL: .* is not a log level; set one of debug, info, warn, error/,
    );
  });

  it('jitkey serve refuses an unknown level at start', async () => {
    const run = await runCli(
      ['serve', '--policy', 'test/fixtures/policies/spec-example.yaml', '--port', '0'],
      {
        JITKEY_LOG_LEVEL: 'verbose',
      },
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      "jitkey serve: JITKEY_LOG_LEVEL: 'verbose' is not a log level; set one of debug, info, warn, error\n",
    );
  });
});

/**
 * JITKEY_KUBERNETES_AUDIT_TOKEN_FILE with JITKEY_LEASE_ACTIVITY (issue 26, item 2): each needs
 * the other, and the file must hold a token worth the name; a bad start says what to set, and
 * never echoes what the file holds.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kubernetesAuditFromEnv } from '../../exchanger/cli/kubernetes-audit-from-env.js';
import { silentLogger } from '../../exchanger/log.js';
import { openStore } from '../../exchanger/store/open.js';
import { ONE_GITHUB_ROLE } from '../support/app-policy.js';

const store = await openStore('sqlite::memory:', { purgeIntervalMs: 0 });
afterAll(() => store.close());
const counter = { inc: () => {} };
const deps = {
  store,
  log: silentLogger,
  policy: () => ONE_GITHUB_ROLE,
  forbiddenActions: counter,
  batches: counter,
  events: counter,
};
const dir = mkdtempSync(join(tmpdir(), 'jitkey-kaudit-env-'));
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
};
const from = (env: Record<string, string>, providers: string[]) => () =>
  kubernetesAuditFromEnv(env, providers, deps);

describe('the Kubernetes audit webhook from the environment', () => {
  it('is off when neither is set, on when both are', () => {
    expect(from({}, ['aws'])()).toBeUndefined();
    const good = file('good', `${'f'.repeat(64)}\n`);
    expect(typeof from({ JITKEY_KUBERNETES_AUDIT_TOKEN_FILE: good }, ['aws', 'kubernetes'])()).toBe(
      'function',
    );
  });

  it('refuses one without the other, saying what to set', () => {
    expect(from({}, ['kubernetes'])).toThrow(/set JITKEY_KUBERNETES_AUDIT_TOKEN_FILE to a file/);
    const good = file('good2', 'f'.repeat(64));
    expect(from({ JITKEY_KUBERNETES_AUDIT_TOKEN_FILE: good }, ['aws'])).toThrow(
      'JITKEY_KUBERNETES_AUDIT_TOKEN_FILE is set but JITKEY_LEASE_ACTIVITY does not name kubernetes: add it (e.g. JITKEY_LEASE_ACTIVITY=aws,kubernetes) or unset the file',
    );
  });

  it('refuses a short or spaced token, and an unreadable file, without echoing its content', () => {
    const short = file('short', 'hunter2-secret');
    const spaced = file('spaced', `${'a'.repeat(20)} ${'b'.repeat(20)}`);
    // The example kubeconfig's placeholder, copied as it is: public, so no token.
    const placeholder = file('placeholder', 'REPLACE-WITH-THE-OUTPUT-OF-openssl-rand-hex-32\n');
    for (const path of [short, spaced, placeholder]) {
      let message = '';
      try {
        from({ JITKEY_KUBERNETES_AUDIT_TOKEN_FILE: path }, ['kubernetes'])();
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toContain('must hold one random token of at least 32 characters and no spaces');
      expect(message).not.toContain('hunter2');
      expect(message).not.toContain('aaaa');
      expect(message).not.toContain('REPLACE');
    }
    expect(from({ JITKEY_KUBERNETES_AUDIT_TOKEN_FILE: join(dir, 'missing') }, ['kubernetes'])).toThrow(
      `JITKEY_KUBERNETES_AUDIT_TOKEN_FILE '${join(dir, 'missing')}' cannot be read (ENOENT)`,
    );
  });
});

/**
 * Two SIGHUPs in quick succession in one process: the reloads run one after the other, so the
 * policy in force is the file as it was last read, never an older one committed late (a large
 * policy still compiling when a smaller, newer one was read and put in force).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { loadAside } from '../../exchanger/cli/policy-aside.js';
import { livePolicy } from '../../exchanger/cli/serve-policy.js';
import { silentLogger } from '../../exchanger/log.js';
import { evaluate } from '../../exchanger/policy/evaluate/evaluate.js';
import { createMetrics } from '../../exchanger/server/metrics.js';

const HEAD = `version: 1
issuers:
  - { url: https://token.actions.githubusercontent.com, audience: jitkey }
roles:
`;
const role = (name: string, environment: string) => `  ${name}:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/${name}" }
    allow:
      - { repository: acme/app, repository_id: "1", environment: ${environment} }
`;

it('a large policy still loading does not commit over a newer one read after it', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'jitkey-reload-')), 'policy.yaml');
  writeFileSync(path, HEAD + role('deploy', 'production'));
  const metrics = createMetrics();
  const live = livePolicy(await loadAside({ path }, []), {
    path,
    env: {},
    log: silentLogger,
    providers: {},
    github: undefined,
    metrics,
    clusters: [],
  });
  // v1: thousands of roles, seconds to compile; v2, written while v1 compiles: one role.
  const many = Array.from({ length: 12_000 }, (_, i) => role(`r${i}`, 'staging')).join('');
  writeFileSync(path, HEAD + role('deploy', 'staging') + many);
  const first = live.reload();
  await new Promise((r) => setTimeout(r, 300));
  writeFileSync(path, `${HEAD}${role('deploy', 'dev')}`);
  const second = live.reload();
  // A storm of SIGHUPs meanwhile: they join the one waiting, which reads the newest file.
  const storm = Array.from({ length: 20 }, () => live.reload());
  await Promise.all([first, second, ...storm]);
  const reloads = (await metrics.reloads.get()).values.reduce((n, v) => n + v.value, 0);
  expect(reloads).toBe(2);
  expect(live.policy().roles.size).toBe(1);
  const deploy = live.policy().roles.get('deploy')!;
  const job = (environment: string) => ({
    iss: 'https://token.actions.githubusercontent.com',
    repository: 'acme/app',
    repository_id: '1',
    environment,
  });
  expect(evaluate(deploy, job('dev')).granted).toBe(true);
  expect(evaluate(deploy, job('staging')).granted).toBe(false);
}, 60_000);

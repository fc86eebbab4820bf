/**
 * Section 7: the Action's cost to every job — the size of each bundle ncc built, and the
 * whole-process time of `node dist/main/index.js` failing fast on a missing input, against
 * `node -e ''` (Node starting and exiting: the floor), runs interleaved, medians compared.
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/support/paths.js';
import { type Row, row } from './report.js';
import { median } from './stats.js';

const RUNS = 15;
const BUNDLES = ['dist/main/index.js', 'dist/post/index.js'];
const LIMIT_BYTES = 300 * 1000;

function timeProcess(args: string[]): Promise<{ ms: number; code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    // No INPUT_* variables: the Action must fail on the missing required input.
    const child = spawn(process.execPath, args, {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (out += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: performance.now() - started, code, out }));
  });
}

export async function benchAction(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const bundle of BUNDLES) {
    const bytes = statSync(join(REPO_ROOT, bundle)).size;
    rows.push(
      row(7, `${bundle} size`, bytes / 1000, 'kB', {
        goal: { text: '≤ 300 kB', met: bytes <= LIMIT_BYTES },
      }),
    );
  }
  const main = join(REPO_ROOT, BUNDLES[0]!);
  const check = await timeProcess([main]);
  if (check.code === 0 || !/exchanger-url/.test(check.out)) {
    throw new Error(`dist/main did not fail on the missing input (exit ${check.code}):\n${check.out}`);
  }
  await timeProcess(['-e', '']);
  const floor: number[] = [];
  const action: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    floor.push((await timeProcess(['-e', ''])).ms);
    action.push((await timeProcess([main])).ms);
  }
  const ours = median(action);
  const base = median(floor);
  rows.push(
    row(7, 'node dist/main/index.js, missing input (median)', ours, 'ms', {
      baseline: { label: "node -e ''", value: base },
      goal: { text: '≤ 1.5× node -e', met: ours / base <= 1.5 },
      note: `${RUNS} runs each, interleaved; exit code ${check.code}`,
    }),
  );
  return rows;
}

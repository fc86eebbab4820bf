/**
 * The repository root, found from this file whether it runs as TypeScript (Vitest, from
 * test/support/) or compiled (the demo and the bench, from lib/test/support/).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json')) || existsSync(join(dir, 'tsconfig.build.json')) === false) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no jitkey checkout above ${from}`);
    dir = up;
  }
  return dir;
}

export const REPO_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
export const CLI = join(REPO_ROOT, 'lib/exchanger/cli/main.js');

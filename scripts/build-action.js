/**
 * `npm run build:action`: the Action's three bundles, each one file built by ncc from src/:
 * dist/main (the main step), dist/post (the post step), dist/agent (the credentials agent and the
 * kubeconfig's exec plugin).
 *
 * They are CommonJS although src/ is ES modules: node loads a CommonJS entry without starting its
 * ES module loader, which on Node 20 costs some 20 internal modules (fs/promises, readline, the
 * loader itself) for one file that imports only node's own modules. A `package.json` beside each
 * bundle says so, since the repository's says "module".
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ncc = createRequire(import.meta.url)('@vercel/ncc');
const BUNDLES = { main: 'src/main.ts', post: 'src/post.ts', agent: 'src/agent/main.ts' };

for (const [name, entry] of Object.entries(BUNDLES)) {
  const { code, assets } = await ncc(join(ROOT, entry), {
    esm: false,
    minify: true,
    sourceMapRegister: false,
    license: 'licenses.txt',
    quiet: true,
    // No build cache: ncc's is shared by every checkout of this user (~/.cache/ncc), and an entry
    // left by another build once gave an ES module bundle here, so dist/ differed from CI's build.
    cache: false,
  });
  const out = join(ROOT, 'dist', name);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'index.js'), code);
  for (const [file, asset] of Object.entries(assets)) {
    mkdirSync(dirname(join(out, file)), { recursive: true });
    writeFileSync(join(out, file), asset.source);
  }
  writeFileSync(join(out, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
  process.stdout.write(`dist/${name}/index.js ${(code.length / 1000).toFixed(1)} kB\n`);
}

/**
 * Headless Chromium for the console's end-to-end tests, from npm alone: `@sparticuz/chromium`
 * ships a Brotli-packed Chromium inside its package, which this unpacks once per version into the
 * temp directory (written under a temporary name, then renamed, so test files starting at once
 * never run a half-written binary), and `playwright-core` drives it.
 *
 *   const browser = await launchBrowser();
 *   const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
 *   …
 *   await browser.close();
 *
 * The flags are ours, not the package's defaults (those are for AWS Lambda and include
 * `--disable-web-security`, which would switch off the very checks the tests are about).
 */
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress } from 'node:zlib';
import { type Browser, chromium } from 'playwright-core';
import { REPO_ROOT } from './paths.js';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** The unpacked Chromium of the installed `@sparticuz/chromium`. */
export async function chromiumPath(): Promise<string> {
  // Its exports map hides package.json and bin/: they are found from the package's folder.
  const pkg = join(REPO_ROOT, 'node_modules', '@sparticuz', 'chromium');
  const { version } = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string };
  const target = join(tmpdir(), `jitkey-chromium-${version}`, 'chromium');
  if (existsSync(target)) return target;
  mkdirSync(dirname(target), { recursive: true });
  const partial = `${target}.${process.pid}.partial`;
  await pipeline(
    createReadStream(join(pkg, 'bin', 'chromium.br')),
    createBrotliDecompress(),
    createWriteStream(partial, { mode: 0o755 }),
  );
  renameSync(partial, target);
  return target;
}

/**
 * A fresh headless Chromium; close it when done. Playwright gives each launch a new temporary
 * profile directory (`--user-data-dir`), so no cookie or cache crosses tests.
 */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: await chromiumPath(), headless: true, args: CHROMIUM_FLAGS });
}

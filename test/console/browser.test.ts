/** The browser the console's tests drive starts from the npm install alone and renders a page. */

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchBrowser } from '../support/browser.js';

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

it('runs headless Chromium and renders a page', async () => {
  const page = await browser.newPage();
  await page.setContent('<main><h1>jitkey</h1></main>');
  expect(await page.textContent('h1')).toBe('jitkey');
  expect(browser.version()).toMatch(/^\d+\./);
});

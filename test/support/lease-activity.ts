/** `jitkey audit lease ID --json` against an exchanger's store: what the tests of lease activity read. */
import { expect } from 'vitest';
import { runCli } from './exchanger-process.js';
import type { Stack } from './stack.js';

export async function leaseActivity(
  store: string,
  leaseId: string,
  // biome-ignore lint/suspicious/noExplicitAny: the answer is inspected field by field
): Promise<{ text: string; json: any }> {
  const { code, stdout, stderr } = await runCli(['audit', 'lease', leaseId, '--store', store, '--json']);
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  return { text: stdout, json: JSON.parse(stdout) };
}

/** A lease of `role` for the issuer's default token; the exchange must be granted. */
// biome-ignore lint/suspicious/noExplicitAny: the credentials differ per provider
export async function granted(stack: Stack, role: string): Promise<any> {
  const res = await stack.exchange(stack.idp.mint(), { role });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

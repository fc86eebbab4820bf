/** `jitkey audit lease ID --json` against an exchanger's store: what the tests of lease activity read. */
import { expect } from 'vitest';
import { runCli } from './exchanger-process.js';

export async function leaseActivity(
  store: string,
  leaseId: string,
  // biome-ignore lint/suspicious/noExplicitAny: the answer is inspected field by field
): Promise<{ text: string; json: any }> {
  const { code, stdout, stderr } = await runCli(['audit', 'lease', leaseId, '--store', store, '--json']);
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  return { text: stdout, json: JSON.parse(stdout) };
}

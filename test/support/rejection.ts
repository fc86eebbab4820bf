/** The JitkeyError a promise rejects with; anything else (or fulfilling) fails the test. */
import { isJitkeyError, type JitkeyError } from '../../exchanger/errors.js';

export async function rejection(p: Promise<unknown>): Promise<JitkeyError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!isJitkeyError(e)) throw new Error(`expected a JitkeyError, got ${String(e)}`);
  return e;
}

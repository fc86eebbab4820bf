/** What a promise rejects with, checked for its type; anything else (or fulfilling) fails the test. */
import { isJitkeyError, type JitkeyError } from '../../exchanger/errors.js';

async function reason(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection, but the promise fulfilled');
    },
    (err: unknown) => err,
  );
}

/** The JitkeyError a promise rejects with. */
export async function rejection(p: Promise<unknown>): Promise<JitkeyError> {
  const e = await reason(p);
  if (!isJitkeyError(e)) throw new Error(`expected a JitkeyError, got ${String(e)}`);
  return e;
}

/** The error of class `type` a promise rejects with. */
export async function rejectionOf<E>(
  p: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
): Promise<E> {
  const e = await reason(p);
  if (!(e instanceof type)) throw new Error(`expected a ${type.name}, got ${String(e)}`);
  return e;
}

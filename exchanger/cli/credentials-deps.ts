/**
 * What `jitkey credentials` and its `revoke` take from the world: the environment, where to
 * write, and (from the approval wait) the clock. A module of its own so that both commands can
 * name it without importing each other.
 */
import type { WaitDeps } from './credentials-wait.js';

export interface CredentialsDeps extends WaitDeps {
  env: Readonly<Record<string, string | undefined>>;
  out(text: string): void;
  err(text: string): void;
  userAgent: string;
}

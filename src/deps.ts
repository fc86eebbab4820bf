import { type Core, createCore } from './core.js';

/** Everything the Action touches outside its own code, handed in as one object so tests pass fakes. */
export interface Deps {
  core: Core;
  fetch: (url: string, init: RequestInit) => Promise<Response>;
  /** The step's environment (runner variables such as ACTIONS_ID_TOKEN_REQUEST_URL). */
  env: Readonly<Record<string, string | undefined>>;
  /** Milliseconds since the epoch. */
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** In [0, 1): jitter for back-off. */
  random: () => number;
}

export function realDeps(): Deps {
  return {
    core: createCore(),
    fetch: (url, init) => fetch(url, init),
    env: process.env,
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: () => Math.random(),
  };
}

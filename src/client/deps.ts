import { type Core, createCore } from '../shared/core.js';
import type { Send } from '../transport/http.js';

/** Everything the Action touches outside its own code, handed in as one object so tests pass fakes. */
export interface Deps {
  core: Core;
  /** One HTTP request (transport/http.ts): no redirects followed, proxies from the environment. */
  send: Send;
  /** The step's environment (runner variables such as ACTIONS_ID_TOKEN_REQUEST_URL). */
  env: Readonly<Record<string, string | undefined>>;
  /** Milliseconds since the epoch. */
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** In [0, 1): jitter for back-off. */
  random: () => number;
}

/** A step's real world; `send` is the step's transport (`createTransport(process.env).send`). */
export function realDeps(send: Send): Deps {
  return {
    core: createCore(),
    send,
    env: process.env,
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: () => Math.random(),
  };
}

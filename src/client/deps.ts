import { type Core, createCore } from '../shared/core.js';
import type { Send, Transport } from '../transport/http.js';

/** Everything the Action touches outside its own code, handed in as one object so tests pass fakes. */
export interface Deps {
  core: Core;
  /** One HTTP request (transport/http.ts): no redirects followed, proxies from the environment. */
  send: Send;
  /** Opens the connection to a host ahead of its first request (none in tests that omit it). */
  preconnect?: (url: URL) => void;
  /** The step's environment (runner variables such as ACTIONS_ID_TOKEN_REQUEST_URL). */
  env: Readonly<Record<string, string | undefined>>;
  /** Milliseconds since the epoch. */
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** In [0, 1): jitter for back-off. */
  random: () => number;
}

/** A step's real world, with the step's transport (`createTransport(process.env)`). */
export function realDeps(transport: Pick<Transport, 'send' | 'preconnect'>): Deps {
  return {
    core: createCore(),
    send: transport.send,
    preconnect: transport.preconnect,
    env: process.env,
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: () => Math.random(),
  };
}

/**
 * The load jobs the HTTP sections send: the exchange route and its body, and the two ways of
 * driving a server (`loadgen.ts`): closed (connections that wait for their answers) and paced (a
 * fixed rate whatever the answers do).
 */
import type { LoadJob, TokenPlan } from './loadgen.js';
import type { TokenRecipe } from './tokens.js';

export const EXCHANGE_PATH = '/v1/exchange';
export const EXCHANGE_BODY = JSON.stringify({ role: 'deploy' });

/** `count` tokens minted before the clock starts, each used once. */
export const preminted = (recipe: TokenRecipe, count: number): TokenPlan => ({
  mode: 'preminted',
  recipe,
  count,
});

/** `connections` connections, each sending its next exchange when the previous one is answered. */
export function closedJob(
  url: string,
  tokens: TokenPlan,
  connections: number,
  amount: { amount?: number; durationS?: number },
): LoadJob {
  return {
    kind: 'closed',
    url,
    path: EXCHANGE_PATH,
    body: EXCHANGE_BODY,
    tokens,
    connections,
    timeoutS: 30,
    ...amount,
  };
}

/** `count` exchanges at `rate` per second, sent on schedule whether or not earlier ones were answered. */
export function pacedJob(url: string, tokens: TokenPlan, rate: number, count: number): LoadJob {
  return { kind: 'paced', url, path: EXCHANGE_PATH, body: EXCHANGE_BODY, tokens, rate, count };
}

/** `count` exchanges, each with its own pre-minted token, on `connections` connections. */
export const closedCount = (url: string, recipe: TokenRecipe, count: number, connections: number): LoadJob =>
  closedJob(url, preminted(recipe, count), connections, { amount: count });

/** How many answers a job should get, when it says (a closed job run for a duration does not). */
export const expectedCount = (job: LoadJob): number | undefined =>
  job.kind === 'paced' ? job.count : job.amount;

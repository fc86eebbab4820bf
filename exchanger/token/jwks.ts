/**
 * One issuer's signing keys: OpenID discovery, then its JWKS, fetched once and cached.
 *
 * - Lazy: nothing is fetched until the first token from this issuer (or `ready()`).
 * - Fresh for `maxAgeMs`; after that the next token refreshes the set. If that refresh fails, the
 *   previous keys stay in use (logged) until they are `maxStaleMs` old, then tokens fail closed.
 * - An unknown `kid` refetches at most once per `cooldownMs` (counted from the last attempt, failed
 *   or not), so junk kids cannot make the exchanger hammer the issuer.
 * - All reloads are single-flight: concurrent callers share one fetch.
 */
import { unavailable } from '../errors.js';
import type { Logger } from '../log.js';
import { UrlRefusal, urlRefusal } from '../net/url-rule.js';
import { quote } from '../text/quote.js';
import { fetchJson } from './fetch-json.js';
import { importJwks, type KeyIndex, type VerificationKey } from './jwk.js';

export interface KeySourceOptions {
  /** The configured issuer URL, exactly as in the policy. */
  issuer: string;
  fetch: typeof fetch;
  /** Milliseconds since the epoch. */
  now: () => number;
  cooldownMs: number;
  maxAgeMs: number;
  maxStaleMs: number;
  timeoutMs: number;
  log: Logger;
}

export interface KeySource {
  /** The keys published under `kid`; empty when there are none even after an allowed refetch. */
  keysFor(kid: string): Promise<readonly VerificationKey[]>;
  /** Loads (or refreshes when stale) the keys; throws JitkeyError `unavailable`. */
  ready(): Promise<void>;
}

const MAX_DOCUMENT_BYTES = 512 * 1024;
const NONE: readonly VerificationKey[] = [];

export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

export function createKeySource(options: KeySourceOptions): KeySource {
  const { issuer, now, log } = options;
  const http = { fetch: options.fetch, timeoutMs: options.timeoutMs, maxBytes: MAX_DOCUMENT_BYTES };
  let jwksUri: string | undefined;
  let keys: KeyIndex | undefined;
  let fetchedAt = Number.NEGATIVE_INFINITY;
  let attemptedAt = Number.NEGATIVE_INFINITY;
  let pending: Promise<void> | undefined;

  async function discover(): Promise<string> {
    const doc = (await fetchJson(discoveryUrl(issuer), http)) as Record<string, unknown> | null;
    const named = doc?.issuer;
    if (named !== issuer) {
      throw new Error(
        `its discovery document names issuer ${quote(named)}, not ${quote(issuer)}; check the issuer URL in the policy`,
      );
    }
    const uri = doc?.jwks_uri;
    if (typeof uri !== 'string') throw new Error('its discovery document has no "jwks_uri"');
    const refusal = urlRefusal(uri, { refuseCredentials: true });
    if (refusal) throw new UrlRefusal(refusal.reason, `its jwks_uri is refused: ${refusal.message}`);
    return uri;
  }

  async function load(): Promise<void> {
    try {
      jwksUri ??= await discover();
      log.debug('fetching JWKS', { issuer, jwks_uri: jwksUri });
      const index = importJwks(await fetchJson(jwksUri, http), { issuer, log });
      keys = index;
      fetchedAt = now();
    } catch (err) {
      throw unavailable(
        `could not load the signing keys of issuer ${issuer}: ${(err as Error).message}`,
        err,
      );
    }
  }

  function reload(): Promise<void> {
    if (!pending) {
      attemptedAt = now();
      const current = load();
      const clear = () => {
        if (pending === current) pending = undefined;
      };
      current.then(clear, clear);
      pending = current;
    }
    return pending;
  }

  const coolingDown = () => now() - attemptedAt < options.cooldownMs;

  async function current(): Promise<KeyIndex> {
    if (!keys) {
      await reload();
      return keys!;
    }
    const age = now() - fetchedAt;
    if (age >= options.maxAgeMs && (pending || !coolingDown())) {
      try {
        await reload();
      } catch (err) {
        if (now() - fetchedAt >= options.maxStaleMs) throw err;
        log.warn('JWKS refresh failed; keeping the previous keys', { issuer, error: err as Error });
      }
    } else if (age >= options.maxStaleMs) {
      throw unavailable(
        `could not load the signing keys of issuer ${issuer}: the cached keys are ${Math.round(age / 1000)} s old and refreshing them failed`,
      );
    }
    return keys;
  }

  return {
    async keysFor(kid) {
      const found = (await current()).get(kid);
      if (found) return found;
      if (pending || !coolingDown()) {
        if (!pending) log.info('unknown kid: refetching the JWKS', { issuer, kid: quote(kid) });
        await reload();
        return keys?.get(kid) ?? NONE;
      }
      return NONE;
    },
    async ready() {
      await current();
    },
  };
}

/**
 * Section 1: token verification on one core (this process, one thread), the same tokens through
 * three paths, interleaved in rounds so that a noisy neighbour hits all three alike:
 * raw `node:crypto` RS256 verify (split, decode the signature, verify: the physical limit), the
 * exchanger's verifier (`createVerifier`, every check of the security floor), and, for reference,
 * `jose.jwtVerify` with its key imported once.
 */
import { createPublicKey, verify } from 'node:crypto';
import { importJWK, jwtVerify } from 'jose';
import { createVerifier } from '../exchanger/token/verify-token.js';
import type { OidcIssuer, SigningKey } from '../test/support/oidc-issuer.js';
import { type Row, row } from './report.js';
import { median } from './stats.js';
import { minter, tokenRecipe } from './tokens.js';

const TOKENS = 1000;
const ROUNDS = 3;
const ROUND_MS = 300;

/** Verifications per second of `fn` over the tokens, cycling, for about `ms`. */
async function rate(tokens: string[], ms: number, fn: (token: string) => unknown): Promise<number> {
  let n = 0;
  const started = performance.now();
  let now = started;
  while (now - started < ms) {
    for (let i = 0; i < 100; i++) await fn(tokens[n++ % tokens.length]!);
    now = performance.now();
  }
  return n / ((now - started) / 1000);
}

export async function benchVerify(idp: OidcIssuer, key: SigningKey): Promise<Row[]> {
  const mint = minter(tokenRecipe(idp, key));
  const tokens = Array.from({ length: TOKENS }, mint);

  const publicKey = createPublicKey(key.privateKey);
  const raw = (token: string) => {
    const dot = token.lastIndexOf('.');
    const ok = verify(
      'sha256',
      Buffer.from(token.slice(0, dot), 'latin1'),
      publicKey,
      Buffer.from(token.slice(dot + 1), 'base64url'),
    );
    if (!ok) throw new Error('raw verify failed');
  };

  const verifier = createVerifier({ issuers: [{ url: idp.url, audience: idp.audience }] });
  await verifier.ready();
  const exchanger = (token: string) => verifier.verify(token);

  const joseKey = await importJWK(key.jwk, 'RS256');
  const jose = (token: string) =>
    jwtVerify(token, joseKey, { issuer: idp.url, audience: idp.audience, algorithms: ['RS256'] });

  // Warm-up: JIT, key caches.
  for (const fn of [raw, exchanger, jose]) await rate(tokens, 150, fn);
  const results = { raw: [] as number[], exchanger: [] as number[], jose: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    results.raw.push(await rate(tokens, ROUND_MS, raw));
    results.exchanger.push(await rate(tokens, ROUND_MS, exchanger));
    results.jose.push(await rate(tokens, ROUND_MS, jose));
  }
  const rawRate = median(results.raw);
  const ours = median(results.exchanger);
  const baseline = { label: 'raw node:crypto', value: rawRate };
  return [
    row(1, "exchanger's verifier (createVerifier), 1 core", ours, 'verif/s', {
      baseline,
      goal: { text: '≥ 0.5× raw', met: ours / rawRate >= 0.5 },
    }),
    row(1, 'reference: jose.jwtVerify, key imported once', median(results.jose), 'verif/s', { baseline }),
  ];
}

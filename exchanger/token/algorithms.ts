/**
 * The JWS algorithms the exchanger can verify, all public-key ones. HMAC (`HS*`) and `none`
 * are absent on purpose: a verifier that accepts them can be fooled with the issuer's public key.
 */
export interface AlgorithmSpec {
  readonly name: string;
  /** Digest given to `crypto.verify`. */
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  /** The JWK `kty` a key must have to verify this algorithm. */
  readonly kty: 'RSA' | 'EC';
  /** EC only: the JWK `crv` the key must have. */
  readonly crv?: 'P-256' | 'P-384' | 'P-521';
  /** RSA only: RSASSA-PSS rather than PKCS#1 v1.5. */
  readonly pss?: boolean;
}

const SPECS: readonly AlgorithmSpec[] = [
  { name: 'RS256', hash: 'sha256', kty: 'RSA' },
  { name: 'RS384', hash: 'sha384', kty: 'RSA' },
  { name: 'RS512', hash: 'sha512', kty: 'RSA' },
  { name: 'PS256', hash: 'sha256', kty: 'RSA', pss: true },
  { name: 'PS384', hash: 'sha384', kty: 'RSA', pss: true },
  { name: 'PS512', hash: 'sha512', kty: 'RSA', pss: true },
  { name: 'ES256', hash: 'sha256', kty: 'EC', crv: 'P-256' },
  { name: 'ES384', hash: 'sha384', kty: 'EC', crv: 'P-384' },
  { name: 'ES512', hash: 'sha512', kty: 'EC', crv: 'P-521' },
];

export const SUPPORTED_ALGORITHMS: ReadonlyMap<string, AlgorithmSpec> = new Map(
  SPECS.map((s) => [s.name, s]),
);

export const DEFAULT_ALGORITHMS: readonly string[] = ['RS256'];

/** The allow-list as a map; throws a plain Error naming an algorithm that cannot be allowed. */
export function allowedAlgorithms(
  names: readonly string[] = DEFAULT_ALGORITHMS,
): ReadonlyMap<string, AlgorithmSpec> {
  if (names.length === 0) throw new Error('token verifier: the algorithm allow-list is empty');
  const out = new Map<string, AlgorithmSpec>();
  for (const name of names) {
    const spec = SUPPORTED_ALGORITHMS.get(name);
    if (!spec) {
      throw new Error(
        `token verifier: algorithm ${JSON.stringify(name)} cannot be allowed; ` +
          `supported public-key algorithms: ${[...SUPPORTED_ALGORITHMS.keys()].join(', ')}`,
      );
    }
    out.set(name, spec);
  }
  return out;
}

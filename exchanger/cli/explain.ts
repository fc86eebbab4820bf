/**
 * `jitkey explain`: a dry run of one decision, per rule and per condition. `--claims` takes a
 * JSON file and skips signature checks; `--token` verifies the token against the policy's
 * issuers first (without spending its jti).
 */
import { readFile } from 'node:fs/promises';
import type { Claims } from '../claims.js';
import { silentLogger } from '../log.js';
import { evaluate } from '../policy/evaluate/evaluate.js';
import { formatExplanation } from '../policy/evaluate/explain.js';
import { loadPolicyFile } from '../policy/load/load-policy.js';
import { clusterNamesForTools } from '../providers/kubernetes-config.js';
import { parse, required, UsageError } from './args.js';

const USAGE = 'jitkey explain --policy FILE|DIR --role NAME (--claims FILE.json | --token JWT) [--json]';

export async function explainCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    {
      policy: { type: 'string' },
      role: { type: 'string' },
      claims: { type: 'string' },
      token: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    USAGE,
  );
  // In the exchanger's pod, the addresses of its own cluster count as one, as in `jitkey serve`.
  const policy = await loadPolicyFile(required(values.policy, '--policy', USAGE), {
    clusters: clusterNamesForTools(process.env),
  });
  const roleName = required(values.role, '--role', USAGE);
  if (!!values.claims === !!values.token)
    throw new UsageError(`give exactly one of --claims or --token\n\nusage: ${USAGE}`);
  // The role first: a typo should not cost a round trip to the issuer.
  const role = policy.roles.get(roleName);
  if (!role) {
    const known = [...policy.roles.keys()].join(', ') || '(none)';
    throw new UsageError(`no role '${roleName}' in the policy; its roles are: ${known}`);
  }
  const claims = values.claims
    ? await readClaims(values.claims)
    : await verifiedClaims(values.token!, policy.issuers);
  const decision = evaluate(role, claims);
  const text = values.json
    ? JSON.stringify(decision, null, 2)
    : formatExplanation(role, decision, policy.source);
  process.stdout.write(`${text}\n`);
  return decision.granted ? 0 : 1;
}

async function readClaims(file: string): Promise<Claims> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--claims ${file}: not a readable JSON file (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`--claims ${file}: must hold a JSON object of claims`);
  }
  return value as Claims;
}

async function verifiedClaims(token: string, issuers: { url: string; audience: string }[]): Promise<Claims> {
  const { createVerifier } = await import('../token/verify-token.js');
  const verified = await createVerifier({ issuers, log: silentLogger }).verify(token);
  return verified.claims;
}

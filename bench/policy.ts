/**
 * Section 2: one policy decision — the role looked up by name, then `evaluate` — timed one by one,
 * on a policy of 1,000 roles × 5 rules (4 allow, 1 deny), half the decisions granted, half denied
 * (a denial also writes the reason naming each failed condition). Baseline: the same on a policy
 * of one role with one rule of one condition, the least a decision can cost.
 */
import { evaluate } from '../exchanger/policy/evaluate/evaluate.js';
import { loadPolicy } from '../exchanger/policy/load/load-policy.js';
import type { Policy } from '../exchanger/policy/model/types.js';
import { type Row, row } from './report.js';
import { summarize } from './stats.js';

const ROLES = 1000;
const DECISIONS = 100_000;
const ISSUER = 'https://token.actions.githubusercontent.com';

const id = (i: number) => String(i).padStart(4, '0');

export function largePolicyText(roles = ROLES): string {
  const out = [`version: 1`, `issuers:`, `  - { url: "${ISSUER}", audience: jitkey }`, `roles:`];
  for (let i = 0; i < roles; i++) {
    out.push(
      `  role-${id(i)}:`,
      `    provider: aws`,
      `    aws: { role_arn: "arn:aws:iam::111122223333:role/r${id(i)}" }`,
      `    allow:`,
      `      - { repository: acme/svc-${id(i)}, repository_id: "${100000 + i}", ref: refs/heads/main, environment: production, event_name: [push, workflow_dispatch] }`,
      `      - { repository: acme/svc-${id(i)}, repository_id: "${100000 + i}", ref: "refs/tags/v*", event_name: push }`,
      `      - { repository_owner_id: "7890", job_workflow_ref: "acme/workflows/.github/workflows/deploy-${id(i)}.yml@refs/heads/main" }`,
      `      - { repository_owner_id: "7890", repository: "acme/svc-${id(i)}-*", ref: "refs/heads/release/**" }`,
      `    deny:`,
      `      - event_name: [pull_request, pull_request_target]`,
    );
  }
  return `${out.join('\n')}\n`;
}

const SMALL_POLICY = `version: 1
issuers:
  - { url: "${ISSUER}", audience: jitkey }
roles:
  role-0000:
    provider: aws
    aws: { role_arn: "arn:aws:iam::111122223333:role/r0000" }
    allow:
      - { repository_id: "100000" }
`;

function claimsFor(i: number, granted: boolean): Record<string, unknown> {
  const repo = `acme/svc-${id(i)}`;
  const ref = granted ? 'refs/tags/v1.2.3' : 'refs/heads/dev';
  return {
    jti: 'c0ffee',
    sub: `repo:${repo}:ref:${ref}`,
    aud: 'jitkey',
    iss: ISSUER,
    repository: repo,
    repository_id: String(100000 + i),
    repository_owner: 'acme',
    repository_owner_id: '7890',
    repository_visibility: 'private',
    ref,
    ref_type: granted ? 'tag' : 'branch',
    ref_protected: 'false',
    sha: 'a3f1c9e2b7d4058e6f1a2b3c4d5e6f708192a3b4',
    environment: 'staging',
    event_name: 'push',
    workflow: 'Release',
    workflow_ref: `${repo}/.github/workflows/release.yml@${ref}`,
    job_workflow_ref: `${repo}/.github/workflows/release.yml@${ref}`,
    actor: 'octocat',
    actor_id: '1',
    run_id: '9876543210',
    run_number: '42',
    run_attempt: '1',
    runner_environment: 'github-hosted',
  };
}

/** ns per decision, each timed on its own; `pick(j)` gives the j-th decision's role name and claims. */
function timeDecisions(
  policy: Policy,
  pick: (j: number) => { name: string; claims: Record<string, unknown>; granted: boolean },
): { ns: Float64Array; wrong: number } {
  const ns = new Float64Array(DECISIONS);
  let wrong = 0;
  for (let j = 0; j < DECISIONS; j++) {
    const { name, claims, granted } = pick(j);
    const t0 = process.hrtime.bigint();
    const role = policy.roles.get(name);
    const decision = evaluate(role!, claims);
    const t1 = process.hrtime.bigint();
    ns[j] = Number(t1 - t0);
    if (decision.granted !== granted) wrong++;
  }
  return { ns, wrong };
}

export function benchPolicy(): Row[] {
  const compileStarted = performance.now();
  const large = loadPolicy(largePolicyText(), 'bench-1000-roles.yaml');
  const compileMs = performance.now() - compileStarted;
  const small = loadPolicy(SMALL_POLICY, 'bench-1-role.yaml');

  // A fixed pseudo-random sequence of roles; even decisions granted, odd ones denied.
  const names = Array.from({ length: ROLES }, (_, i) => `role-${id(i)}`);
  const granted = Array.from({ length: ROLES }, (_, i) => claimsFor(i, true));
  const denied = Array.from({ length: ROLES }, (_, i) => claimsFor(i, false));
  let seed = 12345;
  const order = Int32Array.from({ length: DECISIONS }, () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % ROLES;
  });
  const largePick = (j: number) => {
    const i = order[j]!;
    const ok = j % 2 === 0;
    return { name: names[i]!, claims: ok ? granted[i]! : denied[i]!, granted: ok };
  };
  const smallGranted = claimsFor(0, true);
  const smallDenied = { ...smallGranted, repository_id: '1' };
  const smallPick = (j: number) => {
    const ok = j % 2 === 0;
    return { name: 'role-0000', claims: ok ? smallGranted : smallDenied, granted: ok };
  };

  timeDecisions(large, largePick); // warm-up
  timeDecisions(small, smallPick);
  const base = timeDecisions(small, smallPick);
  const measured = timeDecisions(large, largePick);
  if (measured.wrong + base.wrong > 0) throw new Error('policy bench: a decision came out wrong');
  const ours = summarize(measured.ns);
  const floor = summarize(base.ns);
  const note = `${DECISIONS.toLocaleString('en-US')} decisions, half denied; compiling the 1,000-role policy took ${Math.round(compileMs)} ms (once per load or SIGHUP)`;
  return [
    row(2, 'policy decision p50 (1,000 roles × 5 rules)', ours.p50 / 1000, 'µs', {
      baseline: { label: '1 role × 1 rule', value: floor.p50 / 1000 },
    }),
    row(2, 'policy decision p99 (1,000 roles × 5 rules)', ours.p99 / 1000, 'µs', {
      baseline: { label: '1 role × 1 rule', value: floor.p99 / 1000 },
      goal: { text: '≤ 20 µs', met: ours.p99 <= 20_000 },
      note,
    }),
  ];
}

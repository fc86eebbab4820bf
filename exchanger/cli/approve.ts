/**
 * `jitkey approve ID --url URL [--reason TEXT]` and `jitkey deny ID --url URL --reason TEXT`: an
 * approver's decision, made with their own GitHub token (`GH_TOKEN` or `GITHUB_TOKEN`). Prints what
 * was decided on and where the request stands; exit 0 when the exchanger took the decision, 1 when
 * it refused it, 2 on a usage error.
 */
import type { RequestView } from '../approvals/views.js';
import { clean } from '../text/clean.js';
import { parse, UsageError } from './args.js';
import { type ApproverCliDeps, approverSetup, refused } from './requests.js';

const USAGE = {
  approve: 'jitkey approve ID --url URL [--reason TEXT]   (your GitHub token in GH_TOKEN or GITHUB_TOKEN)',
  deny: 'jitkey deny ID --url URL --reason TEXT   (your GitHub token in GH_TOKEN or GITHUB_TOKEN)',
};

export const approveCommand = (argv: string[], deps?: ApproverCliDeps) => decide('approve', argv, deps);
export const denyCommand = (argv: string[], deps?: ApproverCliDeps) => decide('deny', argv, deps);

const ACKNOWLEDGE_USAGE = 'jitkey acknowledge ID --url URL   (your GitHub token in GH_TOKEN or GITHUB_TOKEN)';

/** `jitkey acknowledge ID --url URL`: an approver acknowledges a break-glass use (its retro review). */
export async function acknowledgeCommand(
  argv: string[],
  deps: ApproverCliDeps = { env: process.env },
): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { url: { type: 'string', default: deps.env.JITKEY_URL } },
    ACKNOWLEDGE_USAGE,
  );
  if (positionals.length !== 1) {
    throw new UsageError(
      `give exactly one request ID (the break-glass notification's request_id)\n\nusage: ${ACKNOWLEDGE_USAGE}`,
    );
  }
  const { client, out, err } = approverSetup(values.url, deps, ACKNOWLEDGE_USAGE);
  try {
    const r = await client.acknowledge(positionals[0]!);
    const done = new Set(r.approvals.map((a) => a.login)).size;
    out(
      `${clean(`Acknowledged the break-glass use ${r.request_id}: role ${r.role}${r.actor ? ` by ${r.actor}` : ''}${r.repository ? ` in ${r.repository}` : ''}.`)}\n` +
        `Review: ${done} of ${r.required} acknowledged${done >= r.required ? '; complete' : ''}.\n`,
    );
    return 0;
  } catch (e) {
    return refused(e, err);
  }
}

async function decide(
  kind: 'approve' | 'deny',
  argv: string[],
  deps: ApproverCliDeps = { env: process.env },
): Promise<number> {
  const usage = USAGE[kind];
  const { values, positionals } = parse(
    argv,
    { url: { type: 'string', default: deps.env.JITKEY_URL }, reason: { type: 'string' } },
    usage,
  );
  if (positionals.length !== 1) {
    throw new UsageError(
      `${positionals.length ? 'give exactly one' : 'the'} request ID (as the job's log or \`jitkey requests\` shows it)\n\nusage: ${usage}`,
    );
  }
  const id = positionals[0]!;
  const reason = values.reason?.trim();
  if (kind === 'deny' && !reason) {
    throw new UsageError(
      `--reason is required: the job's log shows it to the workflow author\n\nusage: ${usage}`,
    );
  }
  const { client, out, err } = approverSetup(values.url, deps, usage);
  try {
    const view = await client.decide(id, kind, reason);
    out(describeDecision(kind, view));
    return 0;
  } catch (e) {
    return refused(e, err);
  }
}

export function describeDecision(kind: 'approve' | 'deny', r: RequestView): string {
  // Another CI system's job in its own terms: `GitLab CI/CD my-group/app (main), pipeline 574, job 302`.
  const j = r.job;
  const what = [
    r.repository && `${r.repository}${r.ref ? ` (${r.ref})` : ''}`,
    j && `${j.system} ${j.project ?? ''}${j.ref ? ` (${j.ref})` : ''}`.trim(),
    r.run_id && `run ${r.run_id}${r.run_attempt ? `/${r.run_attempt}` : ''}`,
    j?.run,
    j?.job,
    (r.actor ?? j?.actor) && `started by ${r.actor ?? j?.actor}`,
    j?.url,
  ]
    .filter(Boolean)
    .join(', ');
  const head = `${kind === 'approve' ? 'Approved' : 'Denied'} request ${r.request_id}: role ${r.role}${what ? ` for ${what}` : ''}.`;
  const count = `${new Set(r.approvals.map((a) => a.login)).size} of ${r.required} approvals`;
  const status =
    r.status === 'approved'
      ? `Status: approved (${count}); the job redeems its credentials by ${r.expires_at}.`
      : r.status === 'pending'
        ? `Status: pending (${count}); ${r.required - new Set(r.approvals.map((a) => a.login)).size} more needed from ${r.approvers.join(', ')}.`
        : r.status === 'denied'
          ? `Status: denied${r.denied_by ? ` by ${r.denied_by}` : ''}; the job fails with: ${r.reason ?? '(no reason)'}`
          : `Status: ${r.status}.`;
  return `${clean(head)}\n${clean(status)}\n`;
}

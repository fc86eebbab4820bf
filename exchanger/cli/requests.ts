/**
 * `jitkey requests --url URL [--json]`: the pending approval requests the caller may decide
 * (repository, ref, actor, role, age), as the exchanger works out from the caller's own GitHub
 * token (`GH_TOKEN` or `GITHUB_TOKEN`).
 */

import type { RequestView } from '../approvals/views.js';
import { formatRoughly } from '../duration.js';
import { clean } from '../text/clean.js';
import { type Column, formatTable } from '../text/table.js';
import { approverClient, ExchangerRefusal, githubTokenFromEnv } from './approver-client.js';
import { parse, UsageError } from './args.js';

const USAGE = 'jitkey requests --url URL [--json]   (your GitHub token in GH_TOKEN or GITHUB_TOKEN)';

export interface ApproverCliDeps {
  env: Readonly<Record<string, string | undefined>>;
  fetch?: typeof globalThis.fetch;
  now?: () => Date;
  out?: (text: string) => void;
  err?: (text: string) => void;
}

const realDeps = (): ApproverCliDeps => ({ env: process.env });

export async function requests(argv: string[], deps: ApproverCliDeps = realDeps()): Promise<number> {
  const { values } = parse(
    argv,
    { url: { type: 'string', default: deps.env.JITKEY_URL }, json: { type: 'boolean', default: false } },
    USAGE,
  );
  const { client, out, err } = approverSetup(values.url, deps, USAGE);
  try {
    const { approver, requests: list } = await client.list();
    if (values.json) {
      out(`${JSON.stringify({ approver, requests: list })}\n`);
      return 0;
    }
    if (list.length === 0) {
      out(`no pending requests that ${clean(approver)} may approve\n`);
      return 0;
    }
    out(formatRequests(list, (deps.now ?? (() => new Date()))()));
    out(`\n${list.length} pending; decide with: jitkey approve ID --url ${values.url} [--reason TEXT]\n`);
    return 0;
  } catch (e) {
    return refused(e, err);
  }
}

export function approverSetup(url: string | undefined, deps: ApproverCliDeps, usage: string) {
  if (!url) throw new UsageError(`--url is required (or set JITKEY_URL)\n\nusage: ${usage}`);
  const token = githubTokenFromEnv(deps.env);
  if (!token) {
    throw new UsageError(
      `set GH_TOKEN or GITHUB_TOKEN to your own GitHub token (e.g. GH_TOKEN=$(gh auth token)): the exchanger asks GitHub who you are\n\nusage: ${usage}`,
    );
  }
  let client: ReturnType<typeof approverClient>;
  try {
    client = approverClient({ url, token, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\nusage: ${usage}`);
  }
  return {
    client,
    out: deps.out ?? ((text: string) => void process.stdout.write(text)),
    err: deps.err ?? ((text: string) => void process.stderr.write(text)),
  };
}

/** Prints a refusal (`403 access_denied: …`); exit code 1. */
export function refused(e: unknown, err: (text: string) => void): number {
  if (e instanceof ExchangerRefusal) {
    err(`${e.status ? `${e.status} ` : ''}${e.code}: ${clean(e.message)}\n`);
    return 1;
  }
  throw e;
}

const columns = (now: Date): Column<RequestView>[] => [
  { title: 'ID', max: 40, value: (r) => r.request_id },
  { title: 'ROLE', max: 24, value: (r) => r.role },
  // GitHub's claims, or another CI system's job in its own terms (`job`, `ci-job.ts`).
  { title: 'REPOSITORY', max: 32, value: (r) => r.repository ?? r.job?.project },
  { title: 'REF', max: 28, value: (r) => r.ref ?? r.job?.ref },
  { title: 'ACTOR', max: 20, value: (r) => r.actor ?? r.job?.actor },
  {
    title: 'RUN',
    max: 16,
    value: (r) => (r.run_id ? `${r.run_id}${r.run_attempt ? `/${r.run_attempt}` : ''}` : r.job?.run),
  },
  { title: 'AGE', max: 8, value: (r) => formatRoughly((now.getTime() - Date.parse(r.created_at)) / 1000) },
  {
    title: 'APPROVALS',
    max: 9,
    value: (r) => `${new Set(r.approvals.map((a) => a.login)).size}/${r.required}`,
  },
  {
    title: 'EXPIRES IN',
    max: 10,
    value: (r) => formatRoughly((Date.parse(r.expires_at) - now.getTime()) / 1000),
  },
];

export function formatRequests(list: readonly RequestView[], now: Date): string {
  return formatTable(columns(now), list);
}

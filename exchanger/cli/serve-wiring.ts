/**
 * What a `jitkey serve` process runs, wired from its parts: the exchange's deps, the approvals
 * (with the deployment gate, PagerDuty, Slack), the extra routes (lease activity, approvals,
 * the console), the HTTP server, and the lead process's background work.
 */
import { callerBudget } from '../approvals/caller-budget.js';
import { publicUrlFromEnv } from '../approvals/notify.js';
import { createNudges, DEFAULT_NUDGE_INTERVAL_MS } from '../approvals/nudge.js';
import { pagerDutyFromEnv } from '../approvals/pagerduty.js';
import { createApprovals } from '../approvals/service.js';
import { createConsole } from '../console/console.js';
import { createRefusalFold, writeFoldedRefusals } from '../exchange/refusal-fold.js';
import { startExport } from '../export/from-env.js';
import type { GithubApp } from '../github/app.js';
import { githubIssuerFromEnv } from '../github/config.js';
import { startSweeps } from '../leases/sweep.js';
import type { Logger } from '../log.js';
import { evaluate } from '../policy/evaluate/evaluate.js';
import type { Guard } from '../policy/evaluate/guard.js';
import type { Providers } from '../providers/types.js';
import { activityRoute } from '../server/activity-route.js';
import { createServer } from '../server/app.js';
import { approvalRoutes } from '../server/approval-routes.js';
import type { Metrics } from '../server/metrics.js';
import { newRequestId } from '../server/request-id.js';
import type { Store } from '../store/types.js';
import { type activityFromEnv, startActivity } from './activity-from-env.js';
import { ciWebhooksFromEnv } from './ci-webhooks-from-env.js';
import type { WorkerLink } from './cluster-worker.js';
import { gateFromEnv, reconcileIntervalFromEnv } from './gate-from-env.js';
import { intervalMsFromEnv } from './interval-from-env.js';
import { kubernetesAuditFromEnv } from './kubernetes-audit-from-env.js';
import type { ServeFlags } from './serve-flags.js';
import type { LivePolicy } from './serve-policy.js';
import { slackFromEnv, warnSlackUnconfigured } from './slack-from-env.js';

export interface ServeParts {
  env: NodeJS.ProcessEnv;
  flags: ServeFlags;
  log: Logger;
  link: WorkerLink | undefined;
  store: Store;
  github: GithubApp | undefined;
  providers: Providers;
  guards: Guard[];
  live: LivePolicy;
  metrics: Metrics;
  activity: ReturnType<typeof activityFromEnv>;
}

export function wireServer(p: ServeParts) {
  const { env, flags, log, link, store, github, providers, guards, metrics, activity } = p;
  const policy = p.live.policy;
  const githubIssuer = githubIssuerFromEnv(env);
  const deps = {
    policy,
    verifier: p.live.verifier,
    evaluate,
    store,
    providers,
    guards,
    metrics,
    log,
    now: () => new Date(),
    // One fold for exchanges and redemptions; its last rows are written before the store closes.
    // With workers, the primary keeps it: one fold for the whole server (cluster-primary.ts).
    refusals: link?.refusals ?? createRefusalFold({ now: () => new Date(), requestId: newRequestId }),
    ...(env.JITKEY_GITHUB_WEBHOOK_SECRET ? { webhookSecret: env.JITKEY_GITHUB_WEBHOOK_SECRET } : {}),
    ...(githubIssuer ? { githubIssuer } : {}),
    ...(activity ? { activity: { firstPollMs: activity.pollMs, providers: activity.providers } } : {}),
  };
  const foldedRefusals = writeFoldedRefusals(deps.refusals, deps);
  // PagerDuty, for roles with `auto_approve_on_call`; without a token they wait for approvers.
  const approvalDeps = { ...deps, github, publicUrl: publicUrlFromEnv(env), onCall: pagerDutyFromEnv(env) };
  // GitHub's deployment gate: its decisions are the approvals' (`gate/`).
  const gate = gateFromEnv(env, approvalDeps);
  const approvals = gate ? gate.wrap(createApprovals(approvalDeps)) : createApprovals(approvalDeps);
  const extraRoutes = extraRoutesFor(p, approvals, approvalDeps.publicUrl);
  // Every worker takes audit batches; the store is what they share (`activity/kubernetes-keys.ts`).
  const kubernetesAudit = kubernetesAuditFromEnv(env, activity?.providers ?? [], {
    store,
    log,
    policy,
    forbiddenActions: metrics.forbiddenActions,
    batches: metrics.kubernetesAuditBatches,
    events: metrics.kubernetesAuditEvents,
    ...(activity?.publicUrl ? { publicUrl: activity.publicUrl } : {}),
  });
  const server = createServer({
    ...deps,
    ...(kubernetesAudit ? { kubernetesAudit } : {}),
    ciWebhooks: ciWebhooksFromEnv(env),
    limits: flags.limits,
    proxyTrust: flags.proxyTrust,
    approvals: gate ? { ...approvals, redeemAtGate: gate.redeem } : approvals,
    gate,
    extraRoutes,
  });

  return { server, deps, approvalDeps, gate, foldedRefusals };
}

/** The routes beside the API's own: Slack's buttons, lease activity, the approvals, the console. */
function extraRoutesFor(
  p: ServeParts,
  approvals: ReturnType<typeof createApprovals>,
  publicUrl: string | undefined,
) {
  const { env, flags, log, link, store, github, providers, metrics } = p;
  const policy = p.live.policy;
  const approverCall = link?.approverCall ?? callerBudget({ now: () => new Date() });
  const leaseRoutes = activityRoute({ store, policy, github, spend: approverCall });
  const approvalApi = approvalRoutes(approvals, log, () => new Date(), approverCall);
  // Slack's Approve / Deny buttons, when JITKEY_SLACK_SIGNING_SECRET is set (`slack-from-env.ts`).
  const slack = slackFromEnv(env, {
    approvals,
    store,
    policy,
    log,
    now: () => new Date(),
    publicUrl,
  });
  warnSlackUnconfigured(policy(), slack !== undefined, log);
  const apiRoutes: typeof approvalApi = async (req, res, id) =>
    (await slack?.(req, res, id)) || (await leaseRoutes(req, res, id)) || approvalApi(req, res, id);
  const consoleRoutes =
    flags.consoleConfig && github
      ? createConsole({
          config: flags.consoleConfig,
          approvals,
          store,
          github,
          policy,
          log,
          now: () => new Date(),
          ...(link ? { signInBudget: link.signIn } : {}),
          decisionBudget: approverCall,
          admin: { github, store, providers, metrics, webhookSecret: env.JITKEY_GITHUB_WEBHOOK_SECRET },
        })
      : undefined;
  if (flags.consoleConfig) log.info('console on', { url: `${flags.consoleConfig.origin}/console/` });
  const extraRoutes: typeof apiRoutes = consoleRoutes
    ? async (req, res, id) => (await consoleRoutes(req, res, id)) || apiRoutes(req, res, id)
    : apiRoutes;
  return extraRoutes;
}

/**
 * The lead process's background work: upstream lease end (Kubernetes Secrets) on the purge's
 * clock, the lease-activity collector, the SIEM exporter, the deployment gate's reconciler, and
 * reminders and escalations of waiting approval requests. `stop` ends them all.
 */
export async function startBackground(o: {
  env: NodeJS.ProcessEnv;
  flags: ServeFlags;
  deps: {
    store: Store;
    log: Logger;
    policy: Parameters<typeof startSweeps>[0]['policy'];
    providers: Parameters<typeof startSweeps>[0]['providers'];
    metrics: Metrics;
  };
  approvalDeps: Parameters<typeof createNudges>[0] & { github: GithubApp | undefined };
  gate: ReturnType<typeof gateFromEnv>;
  activity: ReturnType<typeof activityFromEnv>;
  intervalMs: number;
}): Promise<{ stop(): Promise<void> }> {
  const { store, log, policy, providers, metrics } = o.deps;
  const stopSweeps = startSweeps({
    providers,
    policy,
    store,
    now: () => new Date(),
    log,
    intervalMs: o.intervalMs,
  });
  const collector = o.activity
    ? startActivity(o.activity, {
        store,
        log,
        policy,
        forbiddenActions: metrics.forbiddenActions,
        github: o.approvalDeps.github,
      })
    : undefined;
  // The SIEM export sends the audit trail (`export/from-env.ts`).
  const exporter = o.flags.siemExport ? await startExport(o.flags.siemExport, { store, log }) : undefined;
  const reconcileMs = reconcileIntervalFromEnv(o.env);
  const stopReconciler = o.gate && reconcileMs > 0 ? o.gate.startReconciler(reconcileMs) : () => {};
  const nudgeMs = nudgeIntervalFromEnv(o.env);
  const stopNudges = nudgeMs > 0 ? createNudges(o.approvalDeps).start(nudgeMs) : () => {};
  return {
    async stop() {
      stopSweeps();
      stopReconciler();
      stopNudges();
      await Promise.all([collector?.stop(), exporter?.stop()]);
      await collector?.close();
    },
  };
}

/** `JITKEY_APPROVAL_NUDGE_INTERVAL`: how often pending requests are checked for reminders (0: never). */
function nudgeIntervalFromEnv(env: Readonly<Record<string, string | undefined>>): number {
  return intervalMsFromEnv(env, 'JITKEY_APPROVAL_NUDGE_INTERVAL', DEFAULT_NUDGE_INTERVAL_MS, {
    examples: '30s or 1m',
    off: 'reminders and escalation notices',
  });
}

/**
 * The exchanger's Prometheus metrics, on prom-client: jitkey's own counters and histogram plus
 * prom-client's default process metrics (CPU, memory, heap, GC, event-loop lag).
 *
 * Each `createMetrics()` owns its registry (never prom-client's global one), so tests and
 * several servers in one process do not collide. With `jitkey serve --workers N` every worker
 * has one; `snapshot()` is what a worker hands the primary, and `aggregateMetrics` sums the
 * snapshots into the one text `/metrics` answers (cluster-primary.ts).
 */
import {
  AggregatorRegistry,
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from 'prom-client';

export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

export function createMetrics() {
  const registry = new Registry();
  const registers = [registry];
  const decisions = new Counter({
    name: 'jitkey_decisions_total',
    help: 'Exchange decisions by role, outcome (allowed, denied, error, pending) and error code.',
    labelNames: ['role', 'outcome', 'code'] as const,
    registers,
  });
  const upstream = new Histogram({
    name: 'jitkey_upstream_request_seconds',
    help: 'Time to mint credentials upstream (retries included), once per exchange, by provider and outcome.',
    labelNames: ['provider', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const revocations = new Counter({
    name: 'jitkey_revocations_total',
    help: 'Lease revocations by provider and outcome.',
    labelNames: ['provider', 'outcome'] as const,
    registers,
  });
  const reloads = new Counter({
    name: 'jitkey_policy_reloads_total',
    help: 'Policy reloads by outcome (ok, invalid).',
    labelNames: ['outcome'] as const,
    registers,
  });
  const webhookBodyBytes = new Gauge({
    name: 'jitkey_webhook_body_bytes',
    help: 'Webhook body bytes held while being read, by sender: proven (a signed delivery lately) or unproven.',
    labelNames: ['sender'] as const,
    registers,
  });
  const policyInfo = new Gauge({
    name: 'jitkey_policy_info',
    help: 'The policy in force, by digest (sha256): 1 per process. Summed over the workers, one series whose value is the number of workers means every worker holds the same policy.',
    labelNames: ['digest'] as const,
    aggregator: 'sum',
    registers,
  });
  const forbiddenActions = new Counter({
    name: 'jitkey_forbidden_actions_total',
    help: "Actions a role's forbid_actions names, found in its leases' upstream activity, by role and action.",
    labelNames: ['role', 'action'] as const,
    registers,
  });
  const kubernetesAuditBatches = new Counter({
    name: 'jitkey_kubernetes_audit_batches_total',
    help: 'Batches the Kubernetes API server posted to POST /v1/kubernetes/audit, by the answer status.',
    labelNames: ['status'] as const,
    registers,
  });
  const kubernetesAuditEvents = new Counter({
    name: 'jitkey_kubernetes_audit_events_total',
    help: "Audit events of jitkey's own Kubernetes tokens in those batches, kept as lease activity (a batch sent again counts again).",
    registers,
  });
  const gateClosed = new Counter({
    name: 'jitkey_connections_closed_total',
    help: 'Connections the per-address connection cap closed, by reason: queue_full and queue_timeout (closed unread: its queue was full, or it waited past the headers timeout), idle_reclaimed (an idle keep-alive connection closed to make room).',
    labelNames: ['reason'] as const,
    registers,
  });
  // prom-client's process metrics: CPU, memory, GC, event-loop lag.
  collectDefaultMetrics({ register: registry });
  return {
    decisions,
    upstream,
    revocations,
    reloads,
    policyInfo,
    webhookBodyBytes,
    forbiddenActions,
    kubernetesAuditBatches,
    kubernetesAuditEvents,
    gateClosed,
    contentType: registry.contentType,
    /** The text exposition of this process's metrics. */
    render: (): Promise<string> => registry.metrics(),
    /** This process's metrics as data, for the cluster primary to sum. */
    snapshot: (): Promise<MetricsSnapshot> => registry.getMetricsAsJSON(),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Sums the snapshots of several processes into one exposition: counters and histograms add up;
 * prom-client's process metrics use their own rule (event-loop lag averaged, start time
 * omitted, version taken once).
 */
export function aggregateMetrics(snapshots: MetricsSnapshot[]): Promise<string> {
  return AggregatorRegistry.aggregate(snapshots).metrics();
}

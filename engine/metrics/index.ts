/**
 * What the engine tells Prometheus (prom-client), all under `kgitops_`: reconciles, synths and
 * git fetches (histograms), API requests by verb and code and their retries, the work queue,
 * Apps by sync state and health, release steps and gate evaluations, the shards held; and the
 * process itself (CPU, memory, event loop), from prom-client's default collectors.
 *
 * Labels stay bounded: an App is `namespace/name` (one series per App, as Argo CD and Flux
 * label theirs), never a commit, an object or an error message.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestObserver } from '../cluster/kube.js';
import { type Decision, gateKeys } from '../release/machine.js';
import type { ReleasePlanSpec } from '../../dsl/release.js';

/** Seconds, from 10 ms to 5 min: reconciles of a no-op commit up to synths of a large app. */
const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export interface MetricsSources {
  /** Apps waiting for a worker. */
  readonly queueDepth?: () => number;
  /** The Apps this process holds, as their status says. */
  readonly apps?: () => readonly { readonly sync: string; readonly health: string }[];
  /** Shards held by this replica (sharded controllers). */
  readonly shardsHeld?: () => number;
  /** Watches shared by the Apps' release controllers. */
  readonly sharedWatches?: () => number;
}

export class EngineMetrics {
  readonly registry = new Registry();
  readonly reconcileDuration: Histogram<'app' | 'result'>;
  readonly synthDuration: Histogram<'app'>;
  readonly fetchDuration: Histogram<'app'>;
  readonly apiRequests: Counter<'verb' | 'code' | 'resource'>;
  readonly apiRetries: Counter<'verb' | 'code'>;
  readonly releaseSteps: Counter<'reason'>;
  readonly gateEvaluations: Counter<'gate' | 'result'>;

  constructor(sources: MetricsSources = {}) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'kgitops_' });
    this.reconcileDuration = new Histogram({ name: 'kgitops_reconcile_duration_seconds', help: 'Reconciles of an App, by result (Succeeded, NoChange, Failed, Interrupted)', labelNames: ['app', 'result'], buckets: DURATION_BUCKETS, registers });
    this.synthDuration = new Histogram({ name: 'kgitops_synth_duration_seconds', help: 'Synths of a commit (sandboxed), by App', labelNames: ['app'], buckets: DURATION_BUCKETS, registers });
    this.fetchDuration = new Histogram({ name: 'kgitops_git_fetch_duration_seconds', help: 'Git fetches for a reconcile, by App (a fetch shared by the Apps of a repo counts for each)', labelNames: ['app'], buckets: DURATION_BUCKETS, registers });
    this.apiRequests = new Counter({ name: 'kgitops_api_requests_total', help: 'Kubernetes API requests, by verb, HTTP status (0: no answer) and resource (group/plural)', labelNames: ['verb', 'code', 'resource'], registers });
    this.apiRetries = new Counter({ name: 'kgitops_api_retries_total', help: 'Kubernetes API requests retried after a 429, 5xx or no answer, by verb and status', labelNames: ['verb', 'code'], registers });
    this.releaseSteps = new Counter({ name: 'kgitops_release_transitions_total', help: 'Release transitions, by reason (ReleaseStarted, ReleaseStepAdvanced, ReleaseCompleted, ReleasePaused, ReleaseAborted, ...)', labelNames: ['reason'], registers });
    this.gateEvaluations = new Counter({ name: 'kgitops_gate_evaluations_total', help: 'Release gate evaluations, by gate and result (Passed, Pending, Failed, ...)', labelNames: ['gate', 'result'], registers });
    new Gauge({
      name: 'kgitops_queue_depth', help: 'Apps waiting for a worker', registers,
      collect() { this.set(sources.queueDepth?.() ?? 0); },
    });
    new Gauge({
      name: 'kgitops_apps', help: 'Apps held by this process, by sync state and health', labelNames: ['sync', 'health'], registers,
      collect() {
        this.reset();
        const counts = new Map<string, { sync: string; health: string; n: number }>();
        for (const a of sources.apps?.() ?? []) {
          const k = `${a.sync}/${a.health}`;
          const c = counts.get(k) ?? { sync: a.sync, health: a.health, n: 0 };
          c.n++;
          counts.set(k, c);
        }
        for (const c of counts.values()) this.set({ sync: c.sync, health: c.health }, c.n);
      },
    });
    if (sources.sharedWatches) {
      new Gauge({ name: 'kgitops_shared_watches', help: 'Watches shared by the release controllers of all Apps (one per kind)', registers, collect() { this.set(sources.sharedWatches!()); } });
    }
    if (sources.shardsHeld) {
      new Gauge({ name: 'kgitops_shards_held', help: 'Shards (Leases) this replica holds', registers, collect() { this.set(sources.shardsHeld!()); } });
    }
  }

  /** For KubeClusterOptions.observer: every API request and retry. */
  get requestObserver(): RequestObserver {
    return {
      onResponse: (verb, code, _ms, resource) => this.apiRequests.inc({ verb, code: String(code), resource }),
      onRetry: (verb, code) => this.apiRetries.inc({ verb, code: String(code) }),
    };
  }

  /** One reconcile's numbers. */
  reconciled(app: string, r: { result: string; durationMs: number; timings?: { fetchMs?: number; synthMs?: number } }): void {
    this.reconcileDuration.observe({ app, result: r.result }, r.durationMs / 1000);
    if (r.timings?.fetchMs !== undefined) this.fetchDuration.observe({ app }, r.timings.fetchMs / 1000);
    if (r.timings?.synthMs !== undefined) this.synthDuration.observe({ app }, r.timings.synthMs / 1000);
  }

  /** The gates of a release step as one evaluation left them (ReleaseControllerOptions.onEvaluated). */
  gatesEvaluated(plan: ReleasePlanSpec | undefined, d: Decision | undefined): void {
    if (!plan || !d) return;
    for (const [key, g] of gateKeys(plan, d.state.step)) {
      const status = d.state.gates[key]?.status;
      if (status) this.gateEvaluations.inc({ gate: g.type, result: status });
    }
  }
}


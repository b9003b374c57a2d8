/**
 * Release plans: how a new pod template (or a SidecarSet's new sidecars) reaches the pods, step
 * by step, and what must hold before a release leaves each step. Plans are declarative data:
 * they are serialized into an annotation of the workload (`kgitops.io/release-plan`) and the
 * engine evaluates them without running any user code.
 *
 *   Release.canary('10%', '50%', '100%')   // podsReady and a 5-minute bake after every step
 *
 *   Release.steps(
 *     Step.to('10%').gate(Gate.podsReady(), Gate.bake(Duration.minutes(10)), Gate.metric({ ... })),
 *     Step.to('50%').gate(Gate.podsReady(), Gate.approval()),
 *     Step.to('100%').gate(Gate.podsReady()),
 *   ).window(Gate.window.deny('0 12 * * 5', Duration.hours(60), 'Europe/Berlin'))  // no Friday-afternoon releases
 */
import { Duration } from 'cdk8s';
import { type IntOrPercent, parseIntOrPercent } from './arithmetic.js';
import { checkCondition } from './condition.js';
import { CronError, parseCron, isValidTimeZone } from './cron.js';

export const ANNOTATION_RELEASE_PLAN = 'kgitops.io/release-plan';

// ---- serialized form (what the engine reads) -------------------------------------------------

export interface PodsReadyGateSpec {
  readonly type: 'podsReady';
  /** The step's updated pods must have been ready this long (seconds). */
  readonly minReadySeconds?: number;
  /** Give up (pause the release) if the step's pods are not ready after this long (seconds). @default 600 */
  readonly timeoutSeconds?: number;
}

export interface BakeGateSpec {
  readonly type: 'bake';
  /** Seconds since the step's pods became ready. */
  readonly seconds: number;
}

/** Measurement settings shared by metric and http gates (Argo Rollouts' AnalysisRun semantics). */
export interface MeasurementSpec {
  /** Seconds between measurements. @default 60 */
  readonly intervalSeconds: number;
  /** Measurements to take; the gate passes once all are taken within the limits. @default 3 */
  readonly count: number;
  /** Failed measurements tolerated. @default 0 */
  readonly failureLimit: number;
  /** Errors in a row (unreachable, bad answer) tolerated before the gate fails. @default 4 */
  readonly consecutiveErrorLimit: number;
  /** Inconclusive measurements tolerated (neither condition true, or no data). @default 0 */
  readonly inconclusiveLimit: number;
}

export interface MetricGateSpec extends MeasurementSpec {
  readonly type: 'metric';
  /** Shown in status and events. */
  readonly name: string;
  /** Prometheus base URL, e.g. http://prometheus.monitoring:9090 */
  readonly prometheus: string;
  /** PromQL instant query. */
  readonly query: string;
  /** When a measurement succeeds, e.g. `result < 0.01` (`result` is the first sample). */
  readonly successCondition: string;
  /** When it fails; unset: a measurement that does not succeed fails. */
  readonly failureCondition?: string;
}

export interface HttpGateSpec extends MeasurementSpec {
  readonly type: 'http';
  readonly name: string;
  readonly url: string;
  /** Request timeout, seconds. @default 10 */
  readonly timeoutSeconds: number;
  /** A condition on the JSON body, e.g. `body.status == "ok"`; unset: any 2xx succeeds. */
  readonly successCondition?: string;
}

export interface ApprovalGateSpec {
  readonly type: 'approval';
  /** Who may approve (user names as kubectl/kgitops report them); unset: anyone. */
  readonly approvers?: string[];
}

export interface WindowGateSpec {
  readonly type: 'window';
  /** `allow`: advance only inside a window; `deny`: never inside one. */
  readonly mode: 'allow' | 'deny';
  /** When windows start: a five-field cron expression. */
  readonly schedule: string;
  /** How long each window lasts, seconds. */
  readonly durationSeconds: number;
  /** IANA zone of the schedule. @default UTC */
  readonly timeZone?: string;
}

export type GateSpec = PodsReadyGateSpec | BakeGateSpec | MetricGateSpec | HttpGateSpec | ApprovalGateSpec | WindowGateSpec;

/**
 * Pull the step's new images onto the nodes first, and move the partition only once they are
 * there (an ImageListPullJob of the workload's images, on the nodes of the workload's pods).
 */
export interface PrepullSpec {
  /** Give up (pause the release) if the pull has not finished after this long (seconds). @default 600 */
  readonly timeoutSeconds: number;
  /** Nodes pulling at once. @default 1 (Kruise's default) */
  readonly parallelism?: number;
}

export interface StepSpec {
  /** Pods updated at the end of this step: a count or a percentage. */
  readonly target?: number | string;
  /** UnitedDeployment: target per subset (subsets not named keep what they have). */
  readonly subsets?: Record<string, number | string>;
  /** Pre-download the new images before the partition moves. */
  readonly prepull?: PrepullSpec;
  readonly gates: GateSpec[];
}

export interface ReleasePlanSpec {
  readonly version: 1;
  readonly steps: StepSpec[];
  /** Gates every step must also pass (typically release windows). */
  readonly always?: GateSpec[];
  /** What a failing metric or http gate does. @default pause */
  readonly onFailure: 'pause' | 'abort';
}

// ---- builders ------------------------------------------------------------------------------------

const seconds = (d: Duration) => d.toSeconds();

/** Measurement options as users write them. */
export interface MeasurementOptions {
  /** @default 1 minute */
  readonly interval?: Duration;
  /** @default 3 */
  readonly count?: number;
  /** @default 0 */
  readonly failureLimit?: number;
  /** @default 4 */
  readonly consecutiveErrorLimit?: number;
  /** @default 0 */
  readonly inconclusiveLimit?: number;
}

function measurement(o: MeasurementOptions): MeasurementSpec {
  return {
    intervalSeconds: o.interval ? seconds(o.interval) : 60,
    count: o.count ?? 3,
    failureLimit: o.failureLimit ?? 0,
    consecutiveErrorLimit: o.consecutiveErrorLimit ?? 4,
    inconclusiveLimit: o.inconclusiveLimit ?? 0,
  };
}

export class Gate {
  /**
   * The step's expected updated pods are updated and ready, by Kruise's status (observedGeneration
   * first), optionally for a minimum time.
   */
  static podsReady(options: { minReady?: Duration; timeout?: Duration } = {}): Gate {
    return new Gate({
      type: 'podsReady',
      ...(options.minReady ? { minReadySeconds: seconds(options.minReady) } : {}),
      ...(options.timeout ? { timeoutSeconds: seconds(options.timeout) } : {}),
    });
  }

  /** Time since the step's pods became ready. */
  static bake(duration: Duration): Gate {
    return new Gate({ type: 'bake', seconds: seconds(duration) });
  }

  /**
   * A PromQL query whose result must meet a condition, measured `count` times every `interval`.
   * @example Gate.metric({ name: 'error-rate', prometheus: 'http://prometheus:9090',
   *   query: 'sum(rate(http_errors_total[1m])) / sum(rate(http_requests_total[1m]))', successCondition: 'result < 0.01' })
   */
  static metric(o: MeasurementOptions & { name: string; prometheus: string; query: string; successCondition: string; failureCondition?: string }): Gate {
    return new Gate({
      type: 'metric', name: o.name, prometheus: o.prometheus, query: o.query, successCondition: o.successCondition,
      ...(o.failureCondition ? { failureCondition: o.failureCondition } : {}), ...measurement(o),
    });
  }

  /** A URL that must answer 2xx, optionally with a condition on its JSON body (`body.status == "ok"`). */
  static http(o: MeasurementOptions & { name?: string; url: string; timeout?: Duration; successCondition?: string }): Gate {
    return new Gate({
      type: 'http', name: o.name ?? o.url, url: o.url, timeoutSeconds: o.timeout ? seconds(o.timeout) : 10,
      ...(o.successCondition ? { successCondition: o.successCondition } : {}), ...measurement({ count: 1, ...o }),
    });
  }

  /** A person approves: `kgitops approve <app>/<workload>`, or an approval committed to git. */
  static approval(options: { approvers?: string[] } = {}): Gate {
    return new Gate({ type: 'approval', ...(options.approvers ? { approvers: options.approvers } : {}) });
  }

  /** Release windows (cron-like, with a time zone). */
  static window = {
    /** Advance only inside windows starting at `schedule` and lasting `duration`. */
    allow(schedule: string, duration: Duration, timeZone?: string): Gate {
      return new Gate({ type: 'window', mode: 'allow', schedule, durationSeconds: seconds(duration), ...(timeZone ? { timeZone } : {}) });
    },
    /** Never advance inside windows starting at `schedule` and lasting `duration`. */
    deny(schedule: string, duration: Duration, timeZone?: string): Gate {
      return new Gate({ type: 'window', mode: 'deny', schedule, durationSeconds: seconds(duration), ...(timeZone ? { timeZone } : {}) });
    },
  };

  private constructor(public readonly spec: GateSpec) {}
}

type Target = IntOrPercent;

export class Step {
  /** A step that updates `target` pods (a count or a percentage). */
  static to(target: Target): Step {
    return new Step({ target, gates: [] });
  }

  /** UnitedDeployment: a target per subset, e.g. `Step.subsets({ 'zone-a': '100%' })`. */
  static subsets(targets: Record<string, Target>): Step {
    return new Step({ subsets: { ...targets }, gates: [] });
  }

  private constructor(private readonly s: { target?: Target; subsets?: Record<string, Target>; prepull?: PrepullSpec; gates: Gate[] }) {}

  /** Gates that must hold before the release leaves this step. */
  gate(...gates: Gate[]): Step {
    return new Step({ ...this.s, gates: [...this.s.gates, ...gates] });
  }

  /**
   * Before this step moves the partition, pull the new template's images onto the nodes of the
   * workload's pods (an ImageListPullJob; nodes that have them finish at once), so that in-place
   * updates do not wait for the registry. The partition moves once the pull finished; if it has
   * not after `timeout`, the release pauses. Needs Kruise's ImagePullJobGate and kruise-daemon
   * (the Helm chart's defaults). Kruise picks which pods a step updates, so the pull covers the
   * nodes of all the workload's pods: the first step that pulls does the work, later ones find
   * the images there. Not for SidecarSets (their pods span namespaces).
   */
  prepull(options: { timeout?: Duration; parallelism?: number } = {}): Step {
    return new Step({
      ...this.s,
      prepull: { timeoutSeconds: options.timeout ? seconds(options.timeout) : 600, ...(options.parallelism !== undefined ? { parallelism: options.parallelism } : {}) },
    });
  }

  /** @internal */
  _mapGates(fn: (g: Gate) => Gate): Step {
    return new Step({ ...this.s, gates: this.s.gates.map(fn) });
  }

  /** @internal */
  _toSpec(): StepSpec {
    return {
      ...(this.s.target !== undefined ? { target: this.s.target } : {}),
      ...(this.s.subsets ? { subsets: this.s.subsets } : {}),
      ...(this.s.prepull ? { prepull: this.s.prepull } : {}),
      gates: this.s.gates.map((g) => g.spec),
    };
  }
}

export class Release {
  /**
   * The common case in one line: a step per target, each gated on its pods being ready and a
   * bake time (default 5 minutes). The last target must be '100%'.
   */
  static canary(...targets: Target[]): Release {
    return Release.steps(...targets.map((t) => Step.to(t).gate(Gate.podsReady(), Gate.bake(Duration.minutes(5)))));
  }

  /** Explicit steps. */
  static steps(...steps: Step[]): Release {
    return new Release(steps, [], 'pause');
  }

  private constructor(private readonly stepList: Step[], private readonly alwaysGates: Gate[], private readonly failure: 'pause' | 'abort') {}

  /** Gates added to every step, e.g. release windows. */
  always(...gates: Gate[]): Release {
    return new Release(this.stepList, [...this.alwaysGates, ...gates], this.failure);
  }

  /** Roll back automatically (re-apply the previous template) when a metric or http gate fails. */
  abortOnFailure(): Release {
    return new Release(this.stepList, this.alwaysGates, 'abort');
  }

  /** With another bake time in every step (e.g. for a `canary()` plan). */
  bakeFor(duration: Duration): Release {
    const steps = this.stepList.map((s) => s._mapGates((g) => (g.spec.type === 'bake' ? Gate.bake(duration) : g)));
    return new Release(steps, this.alwaysGates, this.failure);
  }

  /** The serialized plan (validated). @internal */
  _toSpec(): ReleasePlanSpec {
    return {
      version: 1,
      steps: this.stepList.map((s) => s._toSpec()),
      ...(this.alwaysGates.length ? { always: this.alwaysGates.map((g) => g.spec) } : {}),
      onFailure: this.failure,
    };
  }
}

// ---- validation (used by the rules, the engine and preview) --------------------------------------

export interface PlanProblem {
  readonly path: string;
  readonly message: string;
}

function isTarget(v: unknown): boolean {
  const p = parseIntOrPercent(v);
  return !!p && p.value >= 0 && (p.kind === 'int' || p.value <= 100);
}

function full(v: unknown): boolean {
  return v === '100%';
}

/**
 * Checks a serialized plan for the kind it is attached to. Returns every problem (empty: valid).
 * `subsets`: the UnitedDeployment's subset names.
 */
export function validateReleasePlan(plan: unknown, kind: string, subsets: string[] = []): PlanProblem[] {
  const out: PlanProblem[] = [];
  const p = plan as ReleasePlanSpec;
  if (!p || typeof p !== 'object' || p.version !== 1 || !Array.isArray(p.steps)) {
    return [{ path: '', message: 'not a release plan (expected { version: 1, steps: [...] })' }];
  }
  if (p.steps.length === 0) out.push({ path: 'steps', message: 'a release plan needs at least one step' });
  const ud = kind === 'UnitedDeployment';
  let previous = -1;
  p.steps.forEach((s, i) => {
    const at = `steps[${i}]`;
    if (ud) {
      if (s.target !== undefined && s.subsets !== undefined) out.push({ path: at, message: 'set either target (every subset) or subsets, not both' });
      for (const [name, t] of Object.entries(s.subsets ?? {})) {
        if (!subsets.includes(name)) out.push({ path: `${at}.subsets.${name}`, message: `subset ${JSON.stringify(name)} does not exist (subsets: ${subsets.join(', ') || 'none'})` });
        if (!isTarget(t)) out.push({ path: `${at}.subsets.${name}`, message: `${JSON.stringify(t)} is not a number of pods or a percentage up to 100%` });
      }
    } else if (s.subsets !== undefined) {
      out.push({ path: `${at}.subsets`, message: `per-subset targets are for UnitedDeployments, not ${kind}` });
    }
    if (s.target !== undefined && !isTarget(s.target)) out.push({ path: `${at}.target`, message: `${JSON.stringify(s.target)} is not a number of pods or a percentage up to 100%` });
    if (s.target === undefined && s.subsets === undefined) out.push({ path: at, message: 'a step needs a target' });
    if (kind === 'StatefulSet' || kind === 'DaemonSet' || kind === 'CloneSet' || kind === 'SidecarSet') {
      // Percent targets must not go backwards (counts cannot be compared with percents offline).
      const pct = typeof s.target === 'string' && s.target.endsWith('%') ? Number(s.target.slice(0, -1)) : undefined;
      if (pct !== undefined) {
        if (pct < previous) out.push({ path: `${at}.target`, message: `steps must not go backwards (${s.target} after ${previous}%)` });
        previous = pct;
      }
    }
    if (s.prepull !== undefined) {
      if (kind === 'SidecarSet') out.push({ path: `${at}.prepull`, message: 'SidecarSet releases cannot pre-pull: their pods span namespaces, an ImageListPullJob covers one' });
      if (typeof s.prepull?.timeoutSeconds !== 'number' || !(s.prepull.timeoutSeconds > 0)) {
        out.push({ path: `${at}.prepull.timeoutSeconds`, message: `timeoutSeconds must be a positive number, got ${JSON.stringify(s.prepull?.timeoutSeconds)}` });
      }
      if (s.prepull?.parallelism !== undefined && !(Number.isInteger(s.prepull.parallelism) && s.prepull.parallelism > 0)) {
        out.push({ path: `${at}.prepull.parallelism`, message: `parallelism must be a positive integer, got ${JSON.stringify(s.prepull.parallelism)}` });
      }
    }
    (s.gates ?? []).forEach((g, j) => out.push(...validateGate(g, `${at}.gates[${j}]`)));
  });
  (p.always ?? []).forEach((g, j) => out.push(...validateGate(g, `always[${j}]`)));
  const last = p.steps[p.steps.length - 1];
  if (last) {
    const complete = ud
      ? (last.target !== undefined ? full(last.target) : subsets.every((n) => full(last.subsets?.[n] ?? lastSubsetTarget(p.steps, n))))
      : full(last.target);
    if (!complete) out.push({ path: `steps[${p.steps.length - 1}]`, message: `the last step must update every pod ('100%'${ud ? ' in every subset' : ''})` });
  }
  if (p.onFailure !== 'pause' && p.onFailure !== 'abort') out.push({ path: 'onFailure', message: 'must be pause or abort' });
  return out;
}

function lastSubsetTarget(steps: StepSpec[], subset: string): number | string | undefined {
  for (let i = steps.length - 1; i >= 0; i--) {
    const t = steps[i].target ?? steps[i].subsets?.[subset];
    if (t !== undefined) return t;
  }
  return undefined;
}

/** One gate of a release plan or a fleet's wave: every problem, with its path under `at`. */
export function validateGate(g: GateSpec, at: string): PlanProblem[] {
  const out: PlanProblem[] = [];
  const positive = (v: unknown, field: string) => {
    if (typeof v !== 'number' || !(v > 0)) out.push({ path: `${at}.${field}`, message: `${field} must be a positive number, got ${JSON.stringify(v)}` });
  };
  switch (g?.type) {
    case 'podsReady':
      if (g.timeoutSeconds !== undefined) positive(g.timeoutSeconds, 'timeoutSeconds');
      break;
    case 'bake':
      positive(g.seconds, 'seconds');
      break;
    case 'metric':
    case 'http':
      positive(g.intervalSeconds, 'intervalSeconds');
      positive(g.count, 'count');
      if (g.type === 'metric') {
        if (!/^https?:\/\//.test(g.prometheus ?? '')) out.push({ path: `${at}.prometheus`, message: `not an http(s) URL: ${JSON.stringify(g.prometheus)}` });
        if (!g.query) out.push({ path: `${at}.query`, message: 'the query is empty' });
        if (!g.successCondition) out.push({ path: `${at}.successCondition`, message: 'a success condition is required, e.g. "result < 0.01"' });
        for (const field of ['successCondition', 'failureCondition'] as const) {
          if (g[field]) for (const problem of checkCondition(g[field]!, ['result', 'results'])) out.push({ path: `${at}.${field}`, message: problem });
        }
      } else {
        if (!/^https?:\/\//.test(g.url ?? '')) out.push({ path: `${at}.url`, message: `not an http(s) URL: ${JSON.stringify(g.url)}` });
        if (g.successCondition) for (const problem of checkCondition(g.successCondition, ['body'])) out.push({ path: `${at}.successCondition`, message: problem });
      }
      break;
    case 'approval':
      break;
    case 'window':
      try {
        const c = parseCron(g.schedule);
        if (c.everySeconds !== undefined || c.timeZone) out.push({ path: `${at}.schedule`, message: 'use a five-field cron expression here (the time zone goes in timeZone)' });
      } catch (e) {
        out.push({ path: `${at}.schedule`, message: `invalid schedule ${JSON.stringify(g.schedule)}: ${(e as CronError).message}` });
      }
      positive(g.durationSeconds, 'durationSeconds');
      if (g.timeZone !== undefined && !isValidTimeZone(g.timeZone)) out.push({ path: `${at}.timeZone`, message: `unknown time zone ${JSON.stringify(g.timeZone)}` });
      break;
    default:
      out.push({ path: at, message: `unknown gate type ${JSON.stringify((g as { type?: unknown })?.type)}` });
  }
  return out;
}

/**
 * The release state machine, as a pure function: decide(plan, state, observation, now) returns
 * the next state, what to write (partition, paused, in the same request as the state), the
 * events to emit and when to look again. It performs no I/O, so any prefix of its decisions can
 * be replayed after a crash and gives the same result: a step is never skipped or repeated, and
 * within a release the partition only moves forward.
 *
 * Per step: write the step's partition; then the step's gates (and the plan's `always` gates)
 * are evaluated; when all pass the release moves to the next step, writing the next partition
 * and the new state together; after the last step it is Completed. A failing gate pauses the
 * release (or aborts it, if the plan says so); an inconclusive measurement pauses it for a
 * person to decide.
 */
import { CronExpressionParser } from 'cron-parser';
import type { GateSpec, ReleasePlanSpec } from '../../dsl/release.js';
import { emptyMeasurementState as emptyMeasurement, nextMeasurementAt, verdict } from './gates/measure.js';
import type { GateVerdict, MeasurementState } from './gates/types.js';
import { expectedUpdated, type PartitionValue, type ReleaseKind, type Scale, stepPartition } from './plan.js';
import { type GateState, isFinal, type ReleaseState, withTransition } from './state.js';

/** What the engine saw of the workload. */
export interface Observation {
  readonly generation: number;
  readonly observedGeneration?: number;
  readonly scale: Scale;
  readonly updated: number;
  readonly updatedReady: number;
  readonly partition: PartitionValue | undefined;
  readonly paused: boolean;
  /** The current step's image pre-download job, as the engine last read it. */
  readonly prepull?: PrepullObservation;
}

export interface PrepullObservation {
  readonly job: string;
  /** False: the job does not exist (not created yet, or deleted): create it (again). */
  readonly found: boolean;
  /** Kruise finished the job (every image pulled or given up on every node). */
  readonly done: boolean;
  /** Images that failed on some node (the pods pull them themselves then). */
  readonly failed: number;
  /** `2/3 images pulled`, for status and events. */
  readonly message: string;
  /** Creating the job failed for good (forbidden, rejected by Kruise's webhook): the release pauses. */
  readonly error?: string;
}

/** What the controller must create before the step can go on. */
export interface PrepullRequest {
  readonly job: string;
  readonly timeoutSeconds: number;
  readonly parallelism?: number;
}

export interface GitApproval {
  /** Step index (0-based); unset approves every approval gate of the release. */
  readonly step?: number;
  /** The signer of the commit that carried it (an allowed approver's principal or key user id). */
  readonly by: string;
  readonly commit: string;
  /** Fingerprint of the key that signed `commit`. */
  readonly key?: string;
  /** The entry's `by:` and `note:` text: what the committer wrote, not who approved. */
  readonly note?: string;
}

export interface DecideInput {
  readonly plan: ReleasePlanSpec;
  readonly kind: ReleaseKind;
  readonly state: ReleaseState;
  readonly observed: Observation;
  readonly now: number;
  readonly gitApprovals?: GitApproval[];
}

export interface EventOut {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export interface Decision {
  readonly state: ReleaseState;
  /** True when `state` differs from the input (it must be written). */
  readonly changed: boolean;
  /** Partition / paused to write in the same request as the state. */
  readonly write: { partition?: PartitionValue; paused?: boolean };
  readonly events: EventOut[];
  /** Evaluate again at this time (epoch ms) at the latest. */
  readonly wakeAt?: number;
  /** Keys of measured gates due for a measurement now. */
  readonly measure: string[];
  /** Roll back: re-apply the previous template (plan.onFailure = abort). */
  readonly abort?: { readonly reason: string };
  /** Create (or re-create) the step's image pre-download job. */
  readonly prepull?: PrepullRequest;
}

/** The pre-download job of a release's step: stable, so a crash and a replay create the same one. */
export function prepullJobName(state: Pick<ReleaseState, 'id' | 'revision' | 'step'>): string {
  const name = state.id.slice(state.id.indexOf('/') + 1, state.id.lastIndexOf('@'));
  return `${name.slice(0, 40).replace(/[^a-z0-9-]/g, '-').replace(/-+$/, '')}-prepull-${state.revision.slice(0, 10)}-${state.step + 1}`;
}

const DEFAULT_PODS_TIMEOUT_S = 600;

export function gateKeys(plan: ReleasePlanSpec, step: number): [string, GateSpec][] {
  return [
    ...plan.steps[step].gates.map((g, i) => [`${step}/${i}`, g] as [string, GateSpec]),
    ...(plan.always ?? []).map((g, i) => [`always/${i}`, g] as [string, GateSpec]),
  ];
}

export function describeGate(g: GateSpec): string {
  switch (g.type) {
    case 'podsReady': return `pods ready${g.minReadySeconds ? ` for ${g.minReadySeconds}s` : ''}`;
    case 'bake': return `bake ${formatSeconds(g.seconds)}`;
    case 'metric': return `metric ${g.name} (${g.successCondition}, ${g.count}x every ${formatSeconds(g.intervalSeconds)})`;
    case 'http': return `http ${g.name}`;
    case 'approval': return `approval${g.approvers ? ` by ${g.approvers.join(' or ')}` : ''}`;
    case 'window': return `${g.mode === 'allow' ? 'inside' : 'outside'} window "${g.schedule}" for ${formatSeconds(g.durationSeconds)}${g.timeZone ? ` (${g.timeZone})` : ''}`;
  }
}

/** 90 -> 1m30s, 3600 -> 1h, 45 -> 45s */
export function formatSeconds(s: number): string {
  if (s <= 0) return '0s';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.round(s % 60);
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${sec ? `${sec}s` : ''}`;
}

function samePartition(a: PartitionValue | undefined, b: PartitionValue): boolean {
  if (typeof b === 'object') return !!a && typeof a === 'object' && Object.entries(b).every(([k, v]) => (a as Record<string, number>)[k] === v);
  return a === b || String(a) === String(b);
}

/** Whether `now` lies in a window [start, start + duration) of the schedule; and when that changes. */
export function windowAt(g: Extract<GateSpec, { type: 'window' }>, now: number): { inside: boolean; changesAt: number } {
  const opts = { currentDate: new Date(now + 1), tz: g.timeZone ?? 'UTC' };
  const prev = CronExpressionParser.parse(g.schedule, opts).prev().getTime();
  const end = prev + g.durationSeconds * 1000;
  if (now < end) return { inside: true, changesAt: end };
  const next = CronExpressionParser.parse(g.schedule, { currentDate: new Date(now), tz: g.timeZone ?? 'UTC' }).next().getTime();
  return { inside: false, changesAt: next };
}

export interface GateEval { status: GateVerdict; message: string; wakeAt?: number; due?: boolean }

/** Who approved an approval gate, as the state or git records it. */
export interface ApprovedBy { readonly by: string; readonly via: 'cli' | 'git'; readonly commit?: string; readonly key?: string; readonly note?: string }

/**
 * What the gates other than podsReady need: the same gates hold a release's step and a fleet's
 * wave (engine/fleet), and mean the same in both.
 */
export interface GateContext {
  readonly now: number;
  /** When what is gated became ready (the step's pods; the wave before): bake and measurements count from here. */
  readonly readyAt: number | undefined;
  /** What readiness waits for, in words: `the step's pods are ready (1/2 updated, 0 ready)`. */
  readonly notReady: string;
  /** The measured gate's state (metric, http). */
  readonly measurement: MeasurementState | undefined;
  /** Who approved this approval gate, if anybody (allowed approvers only). */
  readonly approval: ApprovedBy | undefined;
  /** How to approve, for a Pending approval. */
  readonly approveHint: string;
}

/** bake, window, approval, metric and http: their verdict now, and when to look again. */
export function evaluateGate(g: Exclude<GateSpec, { type: 'podsReady' }>, c: GateContext): GateEval {
  const { now, readyAt } = c;
  switch (g.type) {
    case 'bake': {
      if (readyAt === undefined) return { status: 'Pending', message: `starts when ${c.notReady}` };
      const until = readyAt + g.seconds * 1000;
      if (now >= until) return { status: 'Passed', message: `baked ${formatSeconds(g.seconds)}` };
      return { status: 'Pending', message: `baking: ${formatSeconds(Math.ceil((until - now) / 1000))} left`, wakeAt: until };
    }
    case 'window': {
      const w = windowAt(g, now);
      const ok = g.mode === 'allow' ? w.inside : !w.inside;
      return ok
        ? { status: 'Passed', message: g.mode === 'allow' ? 'inside a release window' : 'outside a blocked window' }
        : { status: 'Pending', message: `${g.mode === 'allow' ? 'outside release windows' : 'inside a blocked window'} until ${new Date(w.changesAt).toISOString()}`, wakeAt: w.changesAt };
    }
    case 'approval': {
      const a = c.approval;
      return a
        ? { status: 'Passed', message: `approved by ${a.by} (${a.via}${a.commit ? ` ${a.commit.slice(0, 12)}` : ''})` }
        : { status: 'Pending', message: c.approveHint };
    }
    case 'metric':
    case 'http': {
      const m = c.measurement ?? emptyMeasurement();
      const v = verdict(g, m);
      if (v.verdict !== 'Pending') return { status: v.verdict, message: v.message };
      // Measure only once what is gated is ready: measuring the old pods proves nothing.
      if (readyAt === undefined) return { status: 'Pending', message: `starts when ${c.notReady}` };
      const at = nextMeasurementAt(g, m) ?? now;
      const due = Math.max(at, readyAt) <= now;
      return { status: 'Pending', message: v.message, wakeAt: due ? undefined : Math.max(at, readyAt), due };
    }
  }
}

export function decide(input: DecideInput): Decision {
  const { plan, kind, observed, now } = input;
  let state = input.state;
  const events: EventOut[] = [];
  const iso = new Date(now).toISOString();
  const none = (s: ReleaseState = state): Decision => ({ state: s, changed: s !== input.state, write: {}, events, measure: [] });
  if (isFinal(state)) return none();

  const step = plan.steps[state.step];
  const partition = stepPartition(kind, step, observed.scale, observed.partition);
  const write: Decision['write'] = {};

  if (state.phase === 'Paused') {
    // Keep the workload paused (a UnitedDeployment has no paused flag: its partitions just stay).
    if (kind !== 'UnitedDeployment' && !observed.paused) write.paused = true;
    return { state, changed: false, write, events, measure: [] };
  }

  // Image pre-download first: the partition of this step moves only once the images are on the nodes.
  const pre = step.prepull;
  if (pre && !(state.prepull?.step === state.step && state.prepull.finishedAt)) {
    const at = `step ${state.step + 1}/${plan.steps.length}`;
    const request: PrepullRequest = { job: prepullJobName(state), timeoutSeconds: pre.timeoutSeconds, ...(pre.parallelism ? { parallelism: pre.parallelism } : {}) };
    if (state.prepull?.step !== state.step) {
      const message = `${at}: pulling the new images onto the nodes of the workload's pods before the partition moves (${request.job}, timeout ${formatSeconds(pre.timeoutSeconds)})`;
      state = withTransition({ ...state, prepull: { step: state.step, job: request.job, startedAt: iso } }, { at: iso, step: state.step, reason: 'ReleasePrepulling', message });
      events.push({ type: 'Normal', reason: 'ReleasePrepulling', message });
      return { state, changed: true, write: {}, events, measure: [], prepull: request, wakeAt: now + pre.timeoutSeconds * 1000 };
    }
    const o = observed.prepull?.job === state.prepull.job ? observed.prepull : undefined;
    const deadline = Date.parse(state.prepull.startedAt) + pre.timeoutSeconds * 1000;
    const pauseFor = (reason: string): Decision => {
      state = withTransition({ ...state, phase: 'Paused', pause: { reason, by: 'engine', at: iso } }, { at: iso, step: state.step, reason: 'ReleasePaused', message: reason });
      events.push({ type: 'Warning', reason: 'ReleasePaused', message: reason });
      return { state, changed: true, write: kind === 'UnitedDeployment' ? {} : { paused: true }, events, measure: [] };
    };
    if (o?.error) return pauseFor(`${at}: the image pre-download could not start: ${o.error}`);
    if (o?.done) {
      const message = `${at}: images pre-downloaded (${o.message}); moving the partition`;
      // The step's gates count from here: the pull's time is not the pods' time.
      state = withTransition({ ...state, prepull: { ...state.prepull, finishedAt: iso, message: o.message }, stepStartedAt: iso },
        { at: iso, step: state.step, reason: 'ReleasePrepulled', message });
      events.push({ type: o.failed ? 'Warning' : 'Normal', reason: 'ReleasePrepulled', message: o.failed ? `${message}; the pods pull the ${o.failed} failed image(s) themselves` : message });
    } else if (now >= deadline) {
      return pauseFor(`${at}: the image pre-download did not finish in ${formatSeconds(pre.timeoutSeconds)}: ${o?.message ?? 'no status from Kruise yet'} (job ${state.prepull.job}); resume to retry it`);
    } else {
      const message = `pulling images: ${o?.message ?? 'waiting for Kruise'}`;
      if (state.prepull.message !== message) state = { ...state, prepull: { ...state.prepull, message } };
      return { state, changed: state !== input.state, write: {}, events, measure: [], wakeAt: deadline, ...(o && !o.found ? { prepull: request } : {}) };
    }
  }

  if (!samePartition(observed.partition, partition)) write.partition = partition;
  if (observed.paused && kind !== 'UnitedDeployment') write.paused = false;

  // Pods: the controller has seen the spec (observedGeneration first) and the step's pods are updated and ready.
  const expected = expectedUpdated(kind, partition, observed.scale);
  const seen = write.partition === undefined && (observed.observedGeneration ?? -1) >= observed.generation;
  const podsOk = seen && observed.updated >= expected && observed.updatedReady >= expected;
  const podsLine = `${observed.updated}/${expected} updated, ${observed.updatedReady} ready`;
  if (podsOk && !state.podsReadyAt) state = { ...state, podsReadyAt: iso };
  const readyAt = state.podsReadyAt ? Date.parse(state.podsReadyAt) : undefined;
  const stepStart = Date.parse(state.stepStartedAt);

  const approvedBy = (g: Extract<GateSpec, { type: 'approval' }>): ApprovedBy | undefined => {
    const allowed = (by: string) => !g.approvers || g.approvers.includes(by);
    const cli = state.approvals.find((a) => a.step === state.step && allowed(a.by));
    if (cli) return cli;
    const git = (input.gitApprovals ?? []).find((a) => (a.step === undefined || a.step === state.step) && allowed(a.by));
    return git ? { by: git.by, via: 'git', commit: git.commit, ...(git.key ? { key: git.key } : {}), ...(git.note ? { note: git.note } : {}) } : undefined;
  };

  const evaluate = (key: string, g: GateSpec): GateEval => {
    switch (g.type) {
      case 'podsReady': {
        const timeout = stepStart + (g.timeoutSeconds ?? DEFAULT_PODS_TIMEOUT_S) * 1000;
        if (podsOk && readyAt !== undefined) {
          const until = readyAt + (g.minReadySeconds ?? 0) * 1000;
          if (now >= until) return { status: 'Passed', message: `${podsLine}` };
          return { status: 'Pending', message: `${podsLine}; ready for ${formatSeconds(Math.floor((now - readyAt) / 1000))} of ${formatSeconds(g.minReadySeconds!)}`, wakeAt: until };
        }
        if (now >= timeout) return { status: 'Failed', message: `pods not ready after ${formatSeconds(g.timeoutSeconds ?? DEFAULT_PODS_TIMEOUT_S)}: ${podsLine}` };
        return { status: 'Pending', message: seen ? `waiting for pods: ${podsLine}` : 'waiting for the controller to observe the new partition', wakeAt: timeout };
      }
      default:
        return evaluateGate(g, {
          now, readyAt, notReady: `the step's pods are ready (${podsLine})`, measurement: state.gates[key]?.measurement,
          approval: g.type === 'approval' ? approvedBy(g) : undefined,
          approveHint: `waiting for approval of step ${state.step + 1}: kgitops approve <app>/<workload> --step ${state.step + 1}, or an approval committed to git`,
        });
    }
  };

  const keys = gateKeys(plan, state.step);
  const results = keys.map(([key, g]) => ({ key, g, r: evaluate(key, g) }));
  // Record gate status changes (measurements themselves are recorded by the controller).
  let gates = state.gates;
  for (const { key, r } of results) {
    const old = gates[key];
    if (!old || old.status !== r.status || old.message !== r.message) {
      gates = { ...gates, [key]: { ...old, status: r.status, message: r.message, since: old?.status === r.status ? old.since : iso } as GateState };
    }
  }
  if (gates !== state.gates) state = { ...state, gates };
  // Record git approvals that passed a gate, so they show who approved and stay on record.
  for (const { g } of results) {
    if (g.type !== 'approval') continue;
    const a = approvedBy(g);
    if (a?.via === 'git' && !state.approvals.some((x) => x.step === state.step && x.via === 'git' && x.by === a.by)) {
      state = { ...state, approvals: [...state.approvals, { step: state.step, by: a.by, at: iso, via: 'git', commit: a.commit, ...(a.key ? { key: a.key } : {}), ...(a.note ? { note: a.note } : {}) }] };
    }
  }

  const failed = results.find((x) => x.r.status === 'Failed');
  const inconclusive = results.find((x) => x.r.status === 'Inconclusive');
  if (failed || inconclusive) {
    const bad = (failed ?? inconclusive)!;
    const what = `step ${state.step + 1}/${plan.steps.length}: ${describeGate(bad.g)} ${failed ? 'failed' : 'is inconclusive'}: ${bad.r.message}`;
    const measured = bad.g.type === 'metric' || bad.g.type === 'http';
    if (failed && measured && plan.onFailure === 'abort') {
      return { state, changed: state !== input.state, write, events, measure: [], abort: { reason: what } };
    }
    const reason = failed ? what : `${what}; approve to continue or abort to roll back`;
    state = withTransition({ ...state, phase: 'Paused', pause: { reason, by: 'engine', at: iso } }, { at: iso, step: state.step, reason: 'ReleasePaused', message: reason });
    events.push({ type: 'Warning', reason: 'ReleasePaused', message: reason });
    if (kind !== 'UnitedDeployment') write.paused = true;
    delete write.partition;
    return { state, changed: true, write, events, measure: [] };
  }

  if (results.every((x) => x.r.status === 'Passed') && write.partition === undefined) {
    if (state.step === plan.steps.length - 1) {
      const message = `release ${state.id} completed: ${observed.updated}/${observed.scale.total} updated`;
      state = withTransition({ ...state, phase: 'Completed', finishedAt: iso, pause: undefined }, { at: iso, step: state.step, reason: 'ReleaseCompleted', message });
      events.push({ type: 'Normal', reason: 'ReleaseCompleted', message });
      return { state, changed: true, write, events, measure: [] };
    }
    const next = state.step + 1;
    const nextPartition = stepPartition(kind, plan.steps[next], observed.scale, partition);
    const nextExpected = expectedUpdated(kind, nextPartition, observed.scale);
    const message = `step ${next + 1}/${plan.steps.length}: ${plan.steps[next].target ?? JSON.stringify(plan.steps[next].subsets)} (${nextExpected} of ${observed.scale.total} pods); gates of step ${state.step + 1} passed: ${results.map((x) => describeGate(x.g)).join(', ')}`;
    state = withTransition({ ...state, step: next, stepStartedAt: iso, podsReadyAt: undefined, gates: {} }, { at: iso, step: next, reason: 'ReleaseStepAdvanced', message });
    events.push({ type: 'Normal', reason: 'ReleaseStepAdvanced', message });
    // A next step that pre-pulls moves its partition itself, once the images are there.
    return { state, changed: true, write: plan.steps[next].prepull ? write : { ...write, partition: nextPartition }, events, measure: [] };
  }

  const wakes = results.map((x) => x.r.wakeAt).filter((x): x is number => x !== undefined);
  return {
    state, changed: state !== input.state, write, events,
    wakeAt: wakes.length ? Math.min(...wakes) : undefined,
    measure: results.filter((x) => x.r.due).map((x) => x.key),
  };
}


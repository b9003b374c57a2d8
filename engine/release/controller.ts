/**
 * The release controller: runs `decide` for every workload with a release in progress, driven
 * by watches (a status change re-evaluates at once) and by timers (bake ends, windows open,
 * measurements fall due). It performs the decisions: one server-side apply by field manager
 * kgitops-release carries the state annotation together with the partition and paused fields it
 * describes, guarded by the object's resourceVersion so that it never writes from a stale read.
 *
 * People talk to it through a commands annotation (`kgitops approve|pause|resume|abort`, field
 * manager kgitops-cli); it never writes that annotation, so the two never fight. Commands count
 * only while the CLI's server-side apply owns the annotation (managedFields): commands written
 * any other way (kubectl annotate, an edit, another field manager) are skipped and reported.
 */
import type { ReleasePlanSpec } from '../../dsl/release.js';
import { ConflictError, TransientError } from '../cluster/errors.js';
import { type Cluster, describeKey, type EventInput, type KubeObject, keyOf, type ObjectKey, objectId, type WatchEvent, type WatchHandle } from '../cluster/types.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import { emptyMeasurementState as emptyMeasurement, measureHttp, measureMetric, recordMeasurement } from './gates/index.js';
import type { Measurement } from './gates/types.js';
import { decide, type Decision, gateKeys, type GitApproval, type Observation, type PrepullObservation, type PrepullRequest } from './machine.js';
import {
  ANNOTATION_TEMPLATE_REVISION, getPath, type PartitionValue, type ReleaseKind, releaseKind, scaleOf, setPath, strategyPaths, templateImages,
} from './plan.js';
import {
  ANNOTATION_RELEASE_PREVIOUS, ANNOTATION_RELEASE_STATE, isFinal, parseReleaseState, readReleaseState, RELEASE_FIELD_MANAGER, type ReleaseState,
  withTransition,
} from './state.js';

export const ANNOTATION_RELEASE_COMMANDS = 'kgitops.io/release-commands';
export const CLI_FIELD_MANAGER = 'kgitops-cli';

export interface ReleaseCommand {
  /** Release id the command is for (a command for another release is ignored). */
  readonly release: string;
  readonly action: 'approve' | 'pause' | 'resume' | 'abort';
  /** approve: the step (0-based); unset: the current one. */
  readonly step?: number;
  /** Who gave it: the Kubernetes user the CLI's SelfSubjectReview named. */
  readonly by: string;
  /** That user's uid, when the cluster has one (service accounts). */
  readonly uid?: string;
  readonly at: string;
  /** A remark (--note); not who gave the command. */
  readonly note?: string;
}

const ACTIONS = new Set(['approve', 'pause', 'resume', 'abort']);

/** The commands annotation; entries that are not commands (a hand edit) are left out. */
export function parseCommands(s: string | undefined): ReleaseCommand[] {
  try {
    const v = JSON.parse(s ?? '[]');
    if (!Array.isArray(v)) return [];
    return v.filter((c): c is ReleaseCommand => typeof c === 'object' && c !== null && typeof c.release === 'string' && ACTIONS.has(c.action)
      && typeof c.by === 'string' && (c.step === undefined || (Number.isInteger(c.step) && c.step >= 0)));
  } catch {
    return [];
  }
}

/** A workload whose releases this controller drives, as the last reconcile saw it in git. */
export interface TrackedRelease {
  readonly key: ObjectKey;
  readonly kind: ReleaseKind;
  readonly plan: ReleasePlanSpec;
  /** The revision git wants. */
  readonly revision: string;
  /** Approvals committed to git, for this workload's releases, by release id. */
  readonly gitApprovals: Record<string, GitApproval[]>;
}

export interface Measurers {
  metric: typeof measureMetric;
  http: typeof measureHttp;
}

export interface ReleaseControllerOptions {
  readonly cluster: Cluster;
  readonly clock: Clock;
  readonly log: Logger;
  /** Asks the sync engine for a reconcile (abort re-applies the previous template through it). */
  readonly requestReconcile?: (reason: string) => void;
  readonly measurers?: Measurers;
  /** Called after every evaluation (tests, benchmarks). */
  readonly onEvaluated?: (key: ObjectKey, d: Decision | undefined, plan?: ReleasePlanSpec) => void;
  /**
   * A watch shared with other Apps' release controllers (engine/controller/informers.ts).
   * Absent, or when it rejects: this controller watches through its own cluster.
   */
  readonly sharedWatch?: (apiVersion: string, kind: string, namespace: string | undefined, onEvent: (e: WatchEvent) => void, onRestart: () => void) => Promise<WatchHandle>;
}

/** What the controller sees of a workload: the counters its kind reports. */
export function observe(kind: ReleaseKind, live: KubeObject): Observation {
  const s = live.status ?? {};
  const paths = strategyPaths(kind);
  const base = {
    generation: live.metadata.generation ?? 0,
    observedGeneration: s.observedGeneration,
    scale: scaleOf(live),
    partition: getPath(live, paths.partition) as PartitionValue | undefined,
    paused: paths.paused ? getPath(live, paths.paused) === true : false,
  };
  switch (kind) {
    case 'CloneSet': {
      const minReady = (live.spec?.minReadySeconds ?? 0) > 0;
      return { ...base, updated: s.updatedReplicas ?? 0, updatedReady: minReady ? s.updatedAvailableReplicas ?? 0 : s.updatedReadyReplicas ?? 0 };
    }
    case 'StatefulSet':
      return { ...base, updated: s.updatedReplicas ?? 0, updatedReady: s.updatedReadyReplicas ?? 0 };
    case 'DaemonSet': {
      const desired = s.desiredNumberScheduled ?? 0;
      const updated = s.updatedNumberScheduled ?? 0;
      // No per-revision availability on DaemonSets: count the unavailable pods against the updated ones.
      return { ...base, updated, updatedReady: Math.max(0, Math.min(updated, (s.numberAvailable ?? 0) - (desired - updated))) };
    }
    case 'SidecarSet':
      return { ...base, updated: s.updatedPods ?? 0, updatedReady: s.updatedReadyPods ?? 0 };
    case 'UnitedDeployment':
      return { ...base, updated: s.updatedReplicas ?? 0, updatedReady: s.updatedReadyReplicas ?? 0 };
  }
}

/**
 * The object kgitops-release applies: the state, the previous template, partition and paused.
 * It always carries every field the manager owns (server-side apply removes the ones left out).
 */
export function releaseWrite(live: KubeObject, kind: ReleaseKind, state: ReleaseState, o: {
  partition: PartitionValue | undefined; paused: boolean | undefined; previous?: string; guard?: boolean;
}): KubeObject {
  const previous = o.previous ?? live.metadata.annotations?.[ANNOTATION_RELEASE_PREVIOUS];
  const obj: KubeObject = {
    apiVersion: live.apiVersion, kind: live.kind,
    metadata: {
      name: live.metadata.name, ...(live.metadata.namespace ? { namespace: live.metadata.namespace } : {}),
      // A write based on a stale read fails (409) instead of undoing what it did not see.
      ...(o.guard !== false && live.metadata.resourceVersion ? { resourceVersion: live.metadata.resourceVersion } : {}),
      annotations: { [ANNOTATION_RELEASE_STATE]: JSON.stringify(state), ...(previous !== undefined ? { [ANNOTATION_RELEASE_PREVIOUS]: previous } : {}) },
    },
  };
  const paths = strategyPaths(kind);
  if (o.partition !== undefined) setPath(obj, paths.partition, o.partition);
  if (paths.paused && o.paused !== undefined) setPath(obj, paths.paused, o.paused);
  return obj;
}

export class ReleaseController {
  private readonly tracked = new Map<string, TrackedRelease>();
  private readonly watches = new Map<string, WatchHandle>();
  private readonly timers = new Map<string, TimerHandle>();
  private readonly queue = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  /** Workloads whose release state cannot be read, with the problem last reported (once each). */
  private readonly unreadable = new Map<string, string>();
  private readonly measurers: Measurers;
  private stopped = false;

  constructor(private readonly o: ReleaseControllerOptions) {
    this.measurers = o.measurers ?? { metric: measureMetric, http: measureHttp };
  }

  /** Sets the workloads with release plans (after each reconcile) and evaluates them. */
  async track(list: TrackedRelease[]): Promise<void> {
    const ids = new Set(list.map((t) => objectId(t.key)));
    for (const id of this.tracked.keys()) {
      if (!ids.has(id)) {
        this.tracked.delete(id);
        this.timers.get(id)?.cancel();
        this.timers.delete(id);
      }
    }
    for (const t of list) this.tracked.set(objectId(t.key), t);
    await this.ensureWatches();
    await Promise.all(list.map((t) => this.evaluate(t.key)));
  }

  /** Stops watches and timers. */
  stop(): void {
    this.stopped = true;
    for (const w of this.watches.values()) w.stop();
    for (const t of this.timers.values()) t.cancel();
    this.watches.clear();
    this.timers.clear();
  }

  /** Waits until no evaluation is running (tests). */
  async idle(): Promise<void> {
    while (this.queue.size) await Promise.all([...this.queue.values()]);
  }

  private async ensureWatches(): Promise<void> {
    const scopes = new Map<string, ObjectKey>();
    for (const t of this.tracked.values()) scopes.set(`${t.key.apiVersion}/${t.key.kind}/${t.key.namespace ?? ''}`, t.key);
    for (const [scope, w] of this.watches) {
      if (!scopes.has(scope)) { w.stop(); this.watches.delete(scope); }
    }
    for (const [scope, key] of scopes) {
      if (this.watches.has(scope) || this.stopped) continue;
      await this.startWatch(scope, key);
    }
  }

  private async startWatch(scope: string, key: ObjectKey): Promise<void> {
    if (this.o.sharedWatch) {
      try {
        const onEvent = (e: WatchEvent) => {
          const id = objectId(keyOf(e.object));
          if (this.tracked.has(id)) void this.evaluate(keyOf(e.object));
        };
        const onRestart = () => void Promise.all([...this.tracked.values()].map((t) => this.evaluate(t.key)));
        this.watches.set(scope, await this.o.sharedWatch(key.apiVersion, key.kind, key.namespace, onEvent, onRestart));
        return;
      } catch (e) {
        this.o.log.info({ scope, err: (e as Error).message }, 'the shared watch is not available; watching as this App');
      }
    }
    try {
      const handle = await this.o.cluster.watch(key.apiVersion, key.kind, { namespace: key.namespace }, (e) => {
        const id = objectId(keyOf(e.object));
        if (this.tracked.has(id)) void this.evaluate(keyOf(e.object));
      });
      this.watches.set(scope, handle);
      // A watch ends (timeouts, 410 Gone): start it again, and re-evaluate in case we missed something.
      handle.done.catch(() => {}).finally(() => {
        if (this.watches.get(scope) !== handle || this.stopped) return;
        this.watches.delete(scope);
        this.o.clock.setTimer(1000, () => {
          void this.ensureWatches().then(() => Promise.all([...this.tracked.values()].map((t) => this.evaluate(t.key))));
        });
      });
    } catch (e) {
      this.o.log.warn({ scope, err: (e as Error).message }, 'could not watch; relying on timers');
    }
  }

  /** Evaluates one workload now (serialized per workload; a request during a run runs once after it). */
  evaluate(key: ObjectKey): Promise<void> {
    const id = objectId(key);
    const running = this.queue.get(id);
    if (running) {
      this.again.add(id);
      return running;
    }
    const run = (async () => {
      do {
        this.again.delete(id);
        try {
          await this.evaluateOnce(key);
        } catch (e) {
          this.o.log.error({ workload: describeKey(key), err: (e as Error).message }, 'release evaluation failed; retrying in 5s');
          this.schedule(id, key, this.o.clock.now() + 5000);
        }
      } while (this.again.has(id) && !this.stopped);
    })().finally(() => this.queue.delete(id));
    this.queue.set(id, run);
    return run;
  }

  private schedule(id: string, key: ObjectKey, at: number | undefined): void {
    this.timers.get(id)?.cancel();
    this.timers.delete(id);
    if (at === undefined || this.stopped) return;
    this.timers.set(id, this.o.clock.setTimer(Math.max(0, at - this.o.clock.now()), () => void this.evaluate(key)));
  }

  private async evaluateOnce(key: ObjectKey): Promise<void> {
    const id = objectId(key);
    const t = this.tracked.get(id);
    if (!t || this.stopped) return;
    for (let attempt = 0; attempt < 5; attempt++) {
      const live = await this.o.cluster.get(key);
      if (!live) return;
      const read = readReleaseState(live.metadata.annotations?.[ANNOTATION_RELEASE_STATE], t.plan);
      if (read.problem) {
        // Never act on a state we cannot read: no partition write, the release stays where it is.
        this.reportUnreadable(live, read.problem);
        this.o.onEvaluated?.(key, undefined);
        return;
      }
      if (this.unreadable.delete(id)) this.o.log.info({ workload: describeKey(key) }, 'the release state is readable again');
      let state = read.state;
      if (!state || state.phase === 'Completed' || state.phase === 'Superseded') {
        this.o.onEvaluated?.(key, undefined);
        return;
      }
      const now = this.o.clock.now();
      const iso = new Date(now).toISOString();
      const events: Decision['events'][number][] = [];
      let abortReason: string | undefined;
      if (state.phase === 'Aborted') {
        await this.finishAbort(live, t, state);
        this.o.onEvaluated?.(key, undefined);
        return;
      }
      // A release for another revision than git's: the reconciler starts the new one.
      if (state.revision !== t.revision) return;

      // Git has not applied this release's template yet (the hold went first): nothing to roll out.
      if (live.metadata.annotations?.[ANNOTATION_TEMPLATE_REVISION] !== state.revision) return;

      // 1. Commands from people.
      const commands = parseCommands(live.metadata.annotations?.[ANNOTATION_RELEASE_COMMANDS]).filter((c) => c.release === state!.id);
      const fresh = commands.slice(state.commands ?? 0);
      const foreign = fresh.length ? foreignCommandWriters(live) : [];
      if (foreign.length) {
        // Counted as seen, so that a later CLI command (which carries the list on) cannot revive them.
        const message = `ignored ${fresh.length} command(s) for release ${state.id}: the ${ANNOTATION_RELEASE_COMMANDS} annotation was written by ${foreign.join(', ')}, `
          + `not by the kgitops CLI (field manager ${CLI_FIELD_MANAGER}); give commands with kgitops approve|pause|resume|abort`;
        state = withTransition({ ...state, commands: commands.length }, { at: iso, step: state.step, reason: 'ReleaseCommandsIgnored', message });
        events.push({ type: 'Warning', reason: 'ReleaseCommandsIgnored', message });
      }
      for (const c of foreign.length ? [] : fresh) {
        const r = applyCommand(state, c, t.plan, iso);
        state = { ...r.state, commands: (state.commands ?? 0) + 1 };
        if (r.event) events.push(r.event);
        if (r.abort) abortReason = r.abort;
      }

      // 2. Measurements that are due (metric, http), then the decision.
      const observed: Observation = { ...observe(t.kind, live), prepull: await this.observePrepull(live, state) };
      let d = decide({ plan: t.plan, kind: t.kind, state, observed, now, gitApprovals: t.gitApprovals[state.id] });
      if (d.measure.length && !abortReason) {
        state = await this.measure(d.state, t, d.measure);
        d = decide({ plan: t.plan, kind: t.kind, state, observed, now: this.o.clock.now(), gitApprovals: t.gitApprovals[state.id] });
      }
      if (d.prepull && !abortReason) {
        // The step's image pre-download: create its job; a refusal (RBAC, Kruise's webhook) pauses the release.
        const error = await this.createPrepull(live, d.prepull, d.state);
        if (error) {
          const first = d.events;
          const failed: PrepullObservation = { job: d.prepull.job, found: false, done: false, failed: 0, message: '', error };
          d = decide({ plan: t.plan, kind: t.kind, state: d.state, observed: { ...observed, prepull: failed }, now, gitApprovals: t.gitApprovals[state.id] });
          d = { ...d, events: [...first, ...d.events] };
        }
      }
      state = d.state;
      events.push(...d.events);
      abortReason ??= d.abort?.reason;

      if (abortReason) {
        // Stop here: hold every pod where it is, then the sync engine re-applies the previous template.
        const aborted = withTransition({ ...state, phase: 'Aborted', pause: { reason: abortReason, by: 'engine', at: iso } },
          { at: iso, step: state.step, reason: 'ReleaseAborting', message: `rolling back: ${abortReason}` });
        const written = await this.write(live, t.kind, aborted, holdFor(t.kind, live), false);
        if (!written) continue;
        this.emit(written, { type: 'Warning', reason: 'ReleaseAborting', message: `rolling back to the previous template: ${abortReason}` }, events);
        this.o.requestReconcile?.(`abort of ${state.id}`);
        return;
      }
      const stateChanged = state !== parseReleaseState(live.metadata.annotations?.[ANNOTATION_RELEASE_STATE]) && JSON.stringify(state) !== live.metadata.annotations?.[ANNOTATION_RELEASE_STATE];
      if (stateChanged || d.write.partition !== undefined || d.write.paused !== undefined) {
        const observed = observe(t.kind, live);
        const written = await this.write(live, t.kind, state, d.write.partition ?? observed.partition, d.write.paused ?? (t.kind === 'UnitedDeployment' ? undefined : observed.paused));
        if (!written) continue; // stale read: look again
        this.emit(written, undefined, events);
      }
      this.schedule(id, key, d.wakeAt);
      this.o.onEvaluated?.(key, d, t.plan);
      return;
    }
    throw new Error('the workload kept changing under us (5 conflicts in a row)');
  }

  /** The current step's pre-download job, while the step waits for it. */
  private async observePrepull(live: KubeObject, state: ReleaseState): Promise<PrepullObservation | undefined> {
    const p = state.prepull;
    if (!p || p.step !== state.step || p.finishedAt || state.phase !== 'Progressing') return undefined;
    const job = await this.o.cluster.get({ apiVersion: PREPULL_API_VERSION, kind: 'ImageListPullJob', name: p.job, namespace: live.metadata.namespace });
    if (!job) return { job: p.job, found: false, done: false, failed: 0, message: 'the job is not there (yet)' };
    const st = (job.status ?? {}) as { desired?: number; completed?: number; succeeded?: number; completionTime?: string; failedImageStatuses?: unknown[] };
    const desired = st.desired ?? (job.spec as { images?: unknown[] } | undefined)?.images?.length ?? 0;
    const failed = st.failedImageStatuses?.length ?? 0;
    return {
      job: p.job, found: true, failed,
      done: st.completionTime !== undefined || (desired > 0 && (st.completed ?? 0) >= desired),
      message: `${st.succeeded ?? 0}/${desired} image(s) pulled${failed ? `, ${failed} failed` : ''}`,
    };
  }

  /**
   * Creates the pre-download job: an ImageListPullJob of the template's images on the nodes of
   * the workload's pods, owned by the workload (deleted with it) and gone an hour after it
   * finished. Returns why it cannot be created, for the release to pause on; transient failures throw.
   */
  private async createPrepull(live: KubeObject, req: PrepullRequest, state: ReleaseState): Promise<string | undefined> {
    const job = prepullJob(live, req, state);
    if (!job) return `${describeKey(keyOf(live))} has no container images or no pod selector to pull for`;
    try {
      await this.o.cluster.apply(job, { fieldManager: RELEASE_FIELD_MANAGER, force: true });
      return undefined;
    } catch (e) {
      if (e instanceof TransientError) throw e;
      const hint = /KruiseDaemon|ImagePullJobGate|feature-gate/.test((e as Error).message)
        ? ' (Kruise pre-downloads images only with kruise-daemon and its ImagePullJobGate feature gate: remove .prepull() from the plan, or enable them)'
        : '';
      return `creating ImageListPullJob ${job.metadata.name} failed: ${(e as Error).message}${hint}`;
    }
  }

  /** Reports a state that cannot be read: once per workload and problem (log and Event). */
  private reportUnreadable(live: KubeObject, problem: string): void {
    const id = objectId(keyOf(live));
    const message = unreadableStateMessage(live, problem);
    if (this.unreadable.get(id) === message) return;
    this.unreadable.set(id, message);
    this.o.log.warn({ workload: describeKey(keyOf(live)), reason: 'ReleaseStateInvalid', fix: unreadableStateFix(live) }, message);
    void this.o.cluster.event(live, { type: 'Warning', reason: 'ReleaseStateInvalid', message: `${message}; to fix: ${unreadableStateFix(live)}` }, 'kgitops-release');
  }

  private emit(obj: KubeObject, first: Decision['events'][number] | undefined, events: Decision['events']): void {
    for (const e of first ? [first, ...events] : events) {
      const line = `${describeKey(keyOf(obj))}: ${e.message}`;
      if (e.type === 'Warning') this.o.log.warn({ reason: e.reason }, line);
      else this.o.log.info({ reason: e.reason }, line);
      void this.o.cluster.event(obj, e, 'kgitops-release');
    }
  }

  /** Writes the state with partition and paused; undefined on a 409 (stale read). */
  private async write(live: KubeObject, kind: ReleaseKind, state: ReleaseState, partition: PartitionValue | undefined, paused: boolean | undefined): Promise<KubeObject | undefined> {
    try {
      return await this.o.cluster.apply(releaseWrite(live, kind, state, { partition, paused }), { fieldManager: RELEASE_FIELD_MANAGER, force: true });
    } catch (e) {
      if (e instanceof ConflictError && e.conflicts.length === 0) return undefined;
      throw e;
    }
  }

  private async measure(state: ReleaseState, t: TrackedRelease, keys: string[]): Promise<ReleaseState> {
    const gates = new Map(gateKeys(t.plan, state.step));
    const results = await Promise.all(keys.map(async (key): Promise<[string, Measurement]> => {
      const g = gates.get(key)!;
      const m = g.type === 'metric'
        ? await this.measurers.metric(g, { now: () => this.o.clock.now() })
        : g.type === 'http' ? await this.measurers.http(g, { now: () => this.o.clock.now() }) : undefined;
      return [key, m!];
    }));
    let gateStates = { ...state.gates };
    for (const [key, m] of results) {
      const old = gateStates[key];
      gateStates = { ...gateStates, [key]: { status: old?.status ?? 'Pending', message: old?.message ?? '', since: old?.since ?? m.at, measurement: recordMeasurement(old?.measurement ?? emptyMeasurement(), m) } };
      this.o.log.info({ gate: key, phase: m.phase }, `${t.key.name}: measured ${gates.get(key)!.type === 'metric' ? (gates.get(key) as { name: string }).name : 'http'}: ${m.message}`);
    }
    return { ...state, gates: gateStates };
  }

  /**
   * Abort, second half: once the sync engine has re-applied the previous template, release the
   * hold so that every pod returns to it (Kruise updates pods to the current template; raising a
   * partition never rolls pods back by itself).
   */
  private async finishAbort(live: KubeObject, t: TrackedRelease, state: ReleaseState): Promise<void> {
    const applied = live.metadata.annotations?.[ANNOTATION_TEMPLATE_REVISION];
    if (!state.previousRevision || applied !== state.previousRevision) return; // the reconcile has not run yet
    const observed = observe(t.kind, live);
    const release: PartitionValue = t.kind === 'UnitedDeployment' ? Object.fromEntries(Object.keys(observed.scale.subsets ?? {}).map((s) => [s, 0])) : 0;
    if (JSON.stringify(observed.partition) === JSON.stringify(release) && state.finishedAt) return;
    const iso = new Date(this.o.clock.now()).toISOString();
    const done = withTransition({ ...state, finishedAt: iso }, { at: iso, step: state.step, reason: 'ReleaseAborted', message: `rolled back to revision ${state.previousRevision}` });
    const written = await this.write(live, t.kind, done, release, t.kind === 'UnitedDeployment' ? undefined : false);
    if (written) this.emit(written, { type: 'Warning', reason: 'ReleaseAborted', message: `release ${state.id} aborted: every pod goes back to revision ${state.previousRevision}` }, []);
  }
}

/**
 * Who besides the CLI's server-side apply owns the commands annotation (managedFields), as
 * `"manager" (Operation)`; empty when only kgitops-cli applied it. An annotation no entry owns is
 * foreign too: its writer is unknown.
 */
export function foreignCommandWriters(live: KubeObject, annotation: string = ANNOTATION_RELEASE_COMMANDS): string[] {
  if (live.metadata.annotations?.[annotation] === undefined) return [];
  const owners = (live.metadata.managedFields ?? []).filter((m) => {
    const annotations = (m.fieldsV1 as Record<string, Record<string, Record<string, unknown>>> | undefined)?.['f:metadata']?.['f:annotations'];
    return !!annotations && `f:${annotation}` in annotations;
  });
  if (!owners.length) return ['an unknown writer (no managedFields entry owns it)'];
  return owners.filter((m) => !(m.manager === CLI_FIELD_MANAGER && m.operation === 'Apply' && !m.subresource))
    .map((m) => `"${m.manager}" (${m.operation}${m.subresource ? ` of ${m.subresource}` : ''})`);
}

/** What is wrong with a workload's release state, and that the release stopped on it. */
export function unreadableStateMessage(live: KubeObject, problem: string): string {
  const kind = releaseKind(live);
  const partition = kind ? getPath(live, strategyPaths(kind).partition) : undefined;
  return `${describeKey(keyOf(live))}: the release state (annotation ${ANNOTATION_RELEASE_STATE}) cannot be read: ${problem}; `
    + `the release is stopped where it is (partition ${partition === undefined ? 'unset' : JSON.stringify(partition)} is not moved, git's template is not applied to it)`;
}

/** How a person fixes an unreadable release state. */
export function unreadableStateFix(live: KubeObject): string {
  const resource = `${live.kind.toLowerCase()}s.${live.apiVersion.split('/')[0]}`;
  return `remove the annotation (kubectl annotate ${resource} ${live.metadata.name}${live.metadata.namespace ? ` -n ${live.metadata.namespace}` : ''} ${ANNOTATION_RELEASE_STATE}-): `
    + 'the engine then starts the release of git\'s template again from step 1, holding every pod not yet updated (kgitops abort can then roll it back)';
}

export const PREPULL_API_VERSION = 'apps.kruise.io/v1alpha1';

/** The ImageListPullJob a release step creates (undefined if there is nothing to pull or no selector). */
export function prepullJob(live: KubeObject, req: PrepullRequest, state: ReleaseState): KubeObject | undefined {
  const images = templateImages(live);
  const selector = live.spec?.selector;
  if (!images.length || !selector || (!selector.matchLabels && !selector.matchExpressions)) return undefined;
  // One pull may take up to Kruise's default 10 minutes, but never longer than the step waits.
  const pullTimeout = Math.min(600, req.timeoutSeconds);
  return {
    apiVersion: PREPULL_API_VERSION, kind: 'ImageListPullJob',
    metadata: {
      name: req.job, namespace: live.metadata.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'kgitops', 'kgitops.io/release-step': String(state.step + 1) },
      annotations: { 'kgitops.io/release': state.id },
      ownerReferences: live.metadata.uid ? [{ apiVersion: live.apiVersion, kind: live.kind, name: live.metadata.name, uid: live.metadata.uid }] : undefined,
    },
    spec: {
      images, podSelector: { matchLabels: selector.matchLabels, matchExpressions: selector.matchExpressions },
      ...(req.parallelism ? { parallelism: req.parallelism } : {}),
      pullPolicy: { timeoutSeconds: pullTimeout },
      imagePullPolicy: 'IfNotPresent',
      completionPolicy: { type: 'Always', activeDeadlineSeconds: Math.max(req.timeoutSeconds, pullTimeout), ttlSecondsAfterFinished: 3600 },
    },
  } as KubeObject;
}

function holdFor(kind: ReleaseKind, live: KubeObject): PartitionValue {
  const scale = scaleOf(live);
  return kind === 'StatefulSet' ? scale.total : kind === 'UnitedDeployment' ? { ...scale.subsets } : '100%';
}

/** Folds one person's command into the state. */
export function applyCommand(state: ReleaseState, c: ReleaseCommand, plan: ReleasePlanSpec, iso: string): { state: ReleaseState; event?: Decision['events'][number]; abort?: string } {
  const record = (s: ReleaseState, message: string) => withTransition(s, { at: iso, step: s.step, reason: `ReleaseCommand${c.action[0].toUpperCase()}${c.action.slice(1)}`, message });
  switch (c.action) {
    case 'approve': {
      const step = c.step ?? state.step;
      // Approving a step paused on an inconclusive or failed measurement accepts it.
      let gates = state.gates;
      let s: ReleaseState = state;
      if (state.phase === 'Paused' && step === state.step) {
        gates = Object.fromEntries(Object.entries(gates).map(([k, g]) => [k, g.status === 'Inconclusive' || g.status === 'Failed'
          ? { ...g, status: 'Passed' as const, message: `${g.message} (accepted by ${c.by})` } : g]));
        s = { ...s, phase: 'Progressing', pause: undefined, gates };
      }
      s = { ...s, approvals: [...s.approvals, { step, by: c.by, at: c.at, via: 'cli', ...(c.note ? { note: c.note } : {}) }] };
      const message = `step ${step + 1}/${plan.steps.length} approved by ${c.by}`;
      return { state: record(s, message), event: { type: 'Normal', reason: 'ReleaseApproved', message } };
    }
    case 'pause': {
      if (state.phase !== 'Progressing') return { state: record(state, `pause by ${c.by}: already ${state.phase}`) };
      const message = `paused by ${c.by}`;
      return { state: record({ ...state, phase: 'Paused', pause: { reason: message, by: c.by, at: c.at } }, message), event: { type: 'Normal', reason: 'ReleasePaused', message } };
    }
    case 'resume': {
      if (state.phase !== 'Paused') return { state: record(state, `resume by ${c.by}: not paused`) };
      // Resume retries what stopped it: failed or inconclusive measurements start over, and the step's clock restarts.
      const gates = Object.fromEntries(Object.entries(state.gates).filter(([, g]) => g.status !== 'Failed' && g.status !== 'Inconclusive'));
      const message = `resumed by ${c.by}`;
      return {
        // An unfinished image pre-download starts over too (the same job: what it pulled stays pulled).
        state: record({ ...state, phase: 'Progressing', pause: undefined, gates, stepStartedAt: iso, prepull: state.prepull?.finishedAt ? state.prepull : undefined }, message),
        event: { type: 'Normal', reason: 'ReleaseResumed', message },
      };
    }
    case 'abort':
      return { state: record(state, `abort by ${c.by}`), abort: `aborted by ${c.by}` };
  }
}

/**
 * The cluster, with every release transition written as an Event (ReleaseStarted,
 * ReleaseStepAdvanced, ...; component kgitops-release) also passed to `onTransition`, with the
 * workload it is about (`CloneSet ns/web`) and its message prefixed by it: for /metrics, the App's
 * own Events and notifications.
 */
export function onReleaseTransitions(cluster: Cluster, onTransition: (e: EventInput, workload: string) => void): Cluster {
  const observed = Object.create(cluster) as Cluster;
  observed.event = async (involved, e, component) => {
    await cluster.event(involved, e, component);
    const workload = `${involved.kind} ${involved.metadata.namespace ? `${involved.metadata.namespace}/` : ''}${involved.metadata.name}`;
    if (component === RELEASE_FIELD_MANAGER) onTransition({ ...e, message: `${workload}: ${e.message}` }, workload);
  };
  return observed;
}

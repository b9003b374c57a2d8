/**
 * One reconcile: source -> synth -> validate -> plan -> apply/prune -> health -> state.
 *
 * Re-entrant and idempotent: everything it needs to know about earlier runs is read from the
 * cluster (the ApplySet parent and the live objects), so it can be killed at any point and run
 * again. A commit that fails to synthesize or validate, or whose plan fails a dry-run, leaves the
 * cluster as it was (the last good commit keeps running) and is reported with its errors.
 */
import { join } from 'node:path';
import type { RenderedObject } from '../dsl/app.js';
import type { Diagnostic } from '../dsl/diagnostics.js';
import { isFleetPlan } from '../dsl/fleet-plan.js';
import { applyPlan, type ApplyOutcome } from './apply/index.js';
import { appliedChange, type DiffResult } from './diff/index.js';
import {
  ANNOTATION_DESIRED_HASH, applySetId, ConfigMapStateStore, gkOf, parentName, prepareDesired,
} from './apply/applyset.js';
import { ApiError, ForbiddenError, NotServedError } from './cluster/errors.js';
import { type Cluster, type KubeObject, keyOf, objectId } from './cluster/types.js';
import type { Clock } from './clock.js';
import type { EngineConfig } from './config.js';
import { assessHealth, worstHealth } from './health/index.js';
import type { Logger } from './log.js';
import { applyOrder, definesKind, describeOrder, type DesiredObject, plan as makePlan, type Plan, planRefusals } from './plan/index.js';
import { describeSource, legacyAppName, sameSource } from './identity.js';
import {
  type ChangeCounts, type ConfigMapData, type DriftRecord, type HeldBackWorkload, heldBackMessage, type HistoryEntry, type Inventory, type ObjectStatus, pushHistory,
  type StateProblem, type StateStore, type StatusSnapshot,
} from './state.js';
import { lstatSync } from 'node:fs';
import { posix } from 'node:path';
import type { ReleaseController, TrackedRelease } from './release/controller.js';
import { ANNOTATION_RELEASE_PLAN } from '../dsl/release.js';
import { releaseKind, strategyPaths } from './release/plan.js';
import type { GitApproval } from './release/machine.js';
import { inProgressReleases, prepareRelease, type ReleasePreparation, startRelease } from './release/start.js';
import { prepareSignatureTrust } from './release/approvers.js';
import { type ApprovalsRead, type GitHistory, readGitApprovals } from './release/git-approvals.js';
import type { SignatureTrust } from './source/git.js';
import { engineRuntime, prepareDependencies } from './synth/dependencies.js';
import { hasPolicyFiles } from './policy/host.js';
import { seedTransformCache } from './synth/transform-cache.js';
import { Sandbox, SandboxUnavailableError } from './sandbox/index.js';
import { confinedPath } from './source/confine.js';
import { dependencyFiles } from './source/affects.js';
import { synthesize, type SynthOptions, type SynthResult } from './synth/index.js';
import { WarmSynthPool } from './synth/warm.js';

/** Where commits come from. GitSource implements it; tests may use their own. */
export interface Source {
  /** Printable, without credentials. */
  describe(): string;
  /** refName: the ref the commit was resolved through; defaultBranch: no ref was configured and that is the remote's default. */
  fetch(): Promise<{ sha: string; message?: string; ref?: string; refName?: string | null; defaultBranch?: true }>;
  checkout(sha: string): Promise<{ dir: string }>;
  isAncestor?(older: string, newer: string): Promise<boolean>;
  /** Files, blame and signatures of commits: approvals in git are checked through it. */
  readonly history?: GitHistory;
}

export type ReconcileResultKind = 'Succeeded' | 'Failed' | 'Interrupted' | 'NoChange';

export interface ReconcileResult {
  readonly result: ReconcileResultKind;
  readonly commit?: string;
  readonly message: string;
  readonly durationMs: number;
  readonly changes: ChangeCounts;
  readonly drift: DriftRecord[];
  readonly errors: Diagnostic[];
  readonly objects: ObjectStatus[];
  /** Requests that wrote to the cluster (applies, deletes, the parent). */
  readonly writes: number;
  readonly historyRewritten?: boolean;
  /** As StatusSnapshot.ref and defaultBranch: the ref the commit came through. */
  readonly ref?: string;
  readonly defaultBranch?: true;
  /** Warnings of the commit that decide what happens: approvals.yaml entries that do not count. */
  readonly warnings?: Diagnostic[];
  /** Damaged state found on the ApplySet parent in this reconcile, and how it was repaired. */
  readonly repairs?: StateProblem[];
  /** The apply order of this reconcile, step by step (engine/plan applyOrder). */
  readonly order?: string[];
  /** Changes not written after their dry-run had passed, with the API's reason. */
  readonly notWritten?: { readonly id: string; readonly reason: string }[];
  /** Workloads kept on their previous template by an aborted release (the app is OutOfSync). */
  readonly heldBack?: HeldBackWorkload[];
  /** How long the git fetch and the synth took (absent: not done in this reconcile). */
  readonly timings?: { readonly fetchMs?: number; readonly synthMs?: number };
}

interface SynthCacheEntry {
  readonly objects: { manifest: KubeObject; constructPath?: string; source?: string; dependsOn?: number[] }[];
  readonly errors: Diagnostic[];
  /** Approvals committed next to the app (approvals.yaml), by release id. */
  readonly approvals: Record<string, GitApproval[]>;
  /** approvals.yaml entries that do not count, and why (or that git approvals are off). */
  readonly approvalWarnings?: Diagnostic[];
  /** Repo files outside the app path the synth read (SynthResult.inputs); undefined: not known. */
  readonly inputs?: readonly string[];
}

const NO_CHANGES: ChangeCounts = { created: 0, updated: 0, pruned: 0, unchanged: 0, driftCorrected: 0 };

/**
 * What the engine applies for one rendered object: the namespace defaulted, a release prepared
 * when the workload has a plan (release-owned fields left out, the hold when a release starts),
 * and the ApplySet labels and desired hash. `kgitops diff --live` dry-runs the same.
 */
export async function prepareForApply(cluster: Cluster, rendered: KubeObject, o: {
  id: string; defaultNamespace: string; releases: boolean; now: number; approvals: Record<string, GitApproval[]>;
  /**
   * Git's template even where an aborted release holds it off (what `kgitops diff --live`
   * compares: the difference is real until a new commit). @default false: what the engine applies
   */
  declared?: boolean;
}): Promise<{ manifest: KubeObject; release?: ReleasePreparation }> {
  const info = await cluster.resource(rendered.apiVersion, rendered.kind);
  let source = rendered;
  let release: ReleasePreparation | undefined;
  if (o.releases && rendered.metadata?.annotations?.[ANNOTATION_RELEASE_PLAN] !== undefined && releaseKind(rendered)) {
    const located = info.namespaced ? { ...source, metadata: { ...source.metadata, namespace: source.metadata.namespace ?? o.defaultNamespace } } : source;
    release = prepareRelease(located, await cluster.get(keyOf(located)), o.now, o.approvals);
    if (release) source = o.declared && release.heldBack ? release.heldBack.declared : release.desired;
  }
  const manifest = prepareDesired(source, { id: o.id, namespaced: info.namespaced, defaultNamespace: o.defaultNamespace });
  return { manifest, ...(release ? { release } : {}) };
}

export interface ReconcilerOptions {
  /** Where the state lives. @default the parent ConfigMap kgitops-<app> in config.parentNamespace */
  readonly store?: StateStore;
  /**
   * Pre-started synth workers shared by every app of a controller (a worker runs one commit and
   * is gone, so sharing leaks nothing between apps); one pool per app would be a spare process
   * per app.
   */
  readonly warm?: WarmSynthPool;
  /** The sandbox, found once by the controller for all its apps. */
  readonly sandbox?: Sandbox;
  /**
   * Whether commit `next` renders the same as `rendered` because it changes nothing the render
   * depended on (engine/source/affects.ts). Absent: every new commit is synthesized.
   */
  readonly unchanged?: (o: { rendered: string; next: string; path: string; inputs?: readonly string[] }) => Promise<boolean>;
  /**
   * Called with every valid render before anything is applied; a result ends the reconcile
   * there (the controller's fleets: the commit goes to the clusters of its waves, not to this
   * cluster). Undefined: the render is applied here as usual.
   */
  readonly divert?: (o: { sha: string; objects: readonly RenderedObject[]; signal?: AbortSignal }) => Promise<Omit<ReconcileResult, 'durationMs' | 'writes'> | undefined>;
}

export class Reconciler {
  /** Rendered objects per commit: an unchanged commit is never synthesized twice. */
  private readonly synthCache = new Map<string, SynthCacheEntry>();
  /** Where the app's state lives: the parent ConfigMap (kgitops sync) or the App's status (the controller). */
  private readonly store: StateStore;
  private readonly id: string;
  /**
   * Problems with the parent's state already reported (key and message): each distinct problem
   * is logged once, not on every reconcile while it lasts; forgotten once the state is sound.
   */
  private readonly reported = new Set<string>();
  /** The objects of the applied commit, which policies compare a new commit with. */
  private applied?: { readonly sha: string; readonly objects: RenderedObject[] };
  /** What the applied commit changed: its render against the previous applied commit's (the dashboard shows it). */
  private change?: DiffResult;
  /** Who may approve through git (config.approvers), prepared when an approvals.yaml first needs it. */
  private signatureTrust?: Promise<SignatureTrust>;
  /** The approvals.yaml warnings of the commit this reconcile works on: recorded in its status. */
  private approvalWarnings: Diagnostic[] = [];
  /** Whether the releases in progress were picked up from the cluster (once, before the first synth). */
  private releasesResumed = false;
  /** Where repo code runs: found once, on the first synth (the engine refuses to start without it). */
  private sandbox?: Promise<Sandbox>;
  /** A synth process started ahead of the next commit (apps on the engine's packages), in its sandbox. */
  private warm?: WarmSynthPool;

  constructor(
    private readonly config: EngineConfig,
    private readonly cluster: Cluster,
    private readonly source: Source,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Drives the releases of workloads with release plans (absent: templates apply at once). */
    private readonly releases?: ReleaseController,
    private readonly options: ReconcilerOptions = {},
  ) {
    this.store = options.store ?? new ConfigMapStateStore(cluster, { name: parentName(config.app), namespace: config.parentNamespace }, config.source);
    this.id = this.store.applySetId;
    if (options.warm) {
      this.warm = options.warm;
      this.sharedWarm = true;
    }
    if (options.sandbox) this.sandbox = Promise.resolve(options.sandbox);
  }

  /** The warm pool is the controller's, shared by its Apps: never closed here. */
  private sharedWarm = false;

  get applySetId(): string {
    return this.id;
  }

  /**
   * The repo files outside the app path that the render of `commit` read, if this process
   * rendered it (undefined: not known, e.g. after a restart, or no `unchanged` hook).
   */
  dependenciesOf(commit: string): readonly string[] | undefined {
    return this.synthCache.get(`${commit}@`)?.inputs;
  }

  /** Stops the spare synth worker. */
  close(): void {
    if (!this.sharedWarm) this.warm?.close();
  }

  private warmPool(sandbox: Sandbox): WarmSynthPool {
    this.warm ??= new WarmSynthPool({
      sandbox, slotsDir: join(this.config.cacheDir, 'sandbox-slots'),
      binds: [{ source: engineRuntime(this.config.cacheDir) }], limits: this.config.sandbox.limits,
    });
    return this.warm;
  }

  /**
   * Starts a synth worker ahead of the first commit (call at engine start-up): most repos run on
   * the engine's own packages, and the first reconcile then skips the worker's start-up.
   */
  async prewarm(): Promise<void> {
    const sandbox = await this.sandboxFor();
    // The engine's compile cache lives with its other caches.
    void seedTransformCache(this.config.cacheDir);
    this.warmPool(sandbox).prewarm();
  }

  /**
   * The sandbox repo code runs in. Rejects with SandboxUnavailableError when none can be made
   * (and --unsafe-no-sandbox was not given): then no commit is synthesized at all.
   */
  sandboxFor(): Promise<Sandbox> {
    const o = this.config.sandbox;
    this.sandbox ??= o.unsafe
      ? Promise.resolve(Sandbox.unsafe({ warn: (m) => this.log.warn(m) }))
      : Sandbox.default({ ...(o.uid !== undefined ? { uid: o.uid } : {}), ...(o.gid !== undefined ? { gid: o.gid } : {}), warn: (m) => this.log.warn(m) });
    return this.sandbox;
  }

  async reconcile(signal?: AbortSignal): Promise<ReconcileResult> {
    const started = this.clock.now();
    let writes = 0;
    this.approvalWarnings = [];
    // The ref the commit came through, once fetched (the remote's default branch when none is configured).
    let resolved: Pick<StatusSnapshot, 'ref' | 'defaultBranch'> = {};
    const timings: { fetchMs?: number; synthMs?: number } = {};
    const done = (r: Omit<ReconcileResult, 'durationMs' | 'writes'>): ReconcileResult => ({
      ...r, ...resolved, durationMs: this.clock.now() - started, writes, timings, ...(this.approvalWarnings.length ? { warnings: this.approvalWarnings } : {}),
    });

    // 1. Source
    let sha: string;
    try {
      const fetchStarted = performance.now();
      const revision = await this.source.fetch();
      timings.fetchMs = performance.now() - fetchStarted;
      sha = revision.sha;
      resolved = resolvedRef(revision);
    } catch (e) {
      const err = diag('source/fetch', e);
      this.log.error({ source: this.source.describe() }, err.message);
      return done({ result: 'Failed', message: err.message, changes: NO_CHANGES, drift: [], errors: [err], objects: [] });
    }
    const short = sha.slice(0, 12);

    // 2. State from the cluster
    let state: Awaited<ReturnType<StateStore['read']>>;
    try {
      state = await this.store.read();
    } catch (e) {
      const err = diag('cluster/read', e);
      this.log.error(err.message);
      return done({ result: 'Failed', commit: sha, message: err.message, changes: NO_CHANGES, drift: [], errors: [err], objects: [] });
    }
    const parentLive = state.exists;
    // Identity: a parent that records another app is never used, not even to record a failure.
    if (state.source && !sameSource(state.source, this.config.source)) {
      const err = this.identityConflict(state.source);
      if (this.report(`identity:${err.message}`)) this.log.error(err.message);
      return done({ result: 'Failed', commit: sha, message: err.message, changes: NO_CHANGES, drift: [], errors: [err], objects: [] });
    }
    if (parentLive && !state.source && this.report('identity:adopt')) {
      this.log.warn({ parent: this.store.describe() },
        `${this.store.describe()} records no app yet (written by an earlier kgitops): adopting it for ${describeSource(this.config.source)}; an engine of another app will refuse it from now on`);
    }
    for (const p of state.problems) {
      if (this.report(`state:${p.key}:${p.message}`)) this.log.warn({ key: p.key, fix: p.fix }, `damaged engine state: ${p.message}`);
    }
    if (!state.problems.length) this.forget('state:');
    const lastApplied = state.data.status?.appliedCommit;
    let historyRewritten = false;
    if (lastApplied && lastApplied !== sha && this.source.isAncestor) {
      historyRewritten = !(await this.source.isAncestor(lastApplied, sha).catch(() => true));
      if (historyRewritten) this.log.warn({ previous: lastApplied.slice(0, 12), commit: short }, 'history was rewritten (force-push): the applied commit is not an ancestor of the new one');
    }

    // A restarted engine drives the releases in progress at once, from what the live workloads
    // record, instead of after its first synth of the commit.
    if (this.releases && !this.releasesResumed) {
      this.releasesResumed = true;
      const resumed = await inProgressReleases(this.cluster, state.data.inventory).catch(() => []);
      if (resumed.length) {
        this.log.info({ releases: resumed.length }, `resuming ${resumed.length} release(s) in progress before rendering commit ${short}`);
        // Not awaited: a gate's measurement must not hold the synth. track() takes the set at once,
        // so the render's full set, tracked after the apply, replaces this one.
        void this.releases.track(resumed).catch((e) => this.log.error(`release tracking failed: ${(e as Error).message}`));
      }
    }

    const writeState = async (data: ConfigMapData, groupKinds: string[], namespaces: string[]) => {
      await this.store.write({ groupKinds, namespaces, data });
      writes++;
    };
    // Damaged state found (by readParent, or below: a parent lost while its members live on),
    // recorded with the reconcile that repairs it.
    const problems: StateProblem[] = [...state.problems];
    const repairs = (): { repairs?: StateProblem[] } => (problems.length ? { repairs: [...problems] } : {});
    const fail = async (errors: Diagnostic[], message: string, extra: Partial<HistoryEntry> = {}): Promise<ReconcileResult> => {
      for (const e of errors) this.log.error({ rule: e.rule, object: e.object ? `${e.object.kind}/${e.object.name}` : undefined, path: e.path }, e.message);
      const status: StatusSnapshot = {
        ...(state.data.status ?? { app: this.config.app, objects: [] }),
        app: this.config.app, attemptedCommit: sha, ...resolvedOnly(resolved), sync: 'Failed', message, time: new Date(this.clock.now()).toISOString(), errors,
        warnings: this.approvalWarnings.length ? this.approvalWarnings : undefined,
      };
      const isRepeat = state.data.status?.attemptedCommit === sha && state.data.status?.sync === 'Failed' && state.data.status?.message === message;
      // A repeat is not recorded again, unless the parent needs repairing anyway.
      if (!isRepeat || problems.length) {
        const entry: HistoryEntry = {
          commit: sha, time: status.time, durationMs: this.clock.now() - started, result: 'Failed', message, changes: NO_CHANGES, historyRewritten, ...repairs(), ...extra,
        };
        await writeState({ ...state.data, status, history: pushHistory(state.data.history, entry) }, state.groupKinds, state.namespaces)
          .catch((e) => this.log.error(`could not record the failure on the parent: ${(e as Error).message}`));
      }
      return done({ result: 'Failed', commit: sha, message, changes: NO_CHANGES, drift: [], errors, objects: state.data.status?.objects ?? [], historyRewritten, ...repairs() });
    };

    // 3. Synth + validate (cached per commit)
    // Policies that compare versions (in-place-only-images) see the applied commit's objects.
    const comparedWith = lastApplied && lastApplied !== sha ? lastApplied : undefined;
    const cacheKey = `${sha}@${comparedWith ?? ''}`;
    let rendered: SynthCacheEntry | undefined = this.synthCache.get(cacheKey);
    // A commit that touches nothing the applied render depended on (the app path, the files it
    // imported from outside it, its lockfiles) renders the same: one push to a monorepo
    // re-renders the apps it touched, not all of them.
    const appliedRender = lastApplied && lastApplied !== sha ? this.synthCache.get(`${lastApplied}@`) : undefined;
    if (!rendered && appliedRender && this.options.unchanged) {
      const same = await this.options.unchanged({ rendered: lastApplied!, next: sha, path: this.config.path, inputs: appliedRender.inputs }).catch(() => false);
      if (same) {
        this.log.info({ commit: short, rendered: lastApplied!.slice(0, 12) }, 'the commit touches nothing this app depends on: the render of the applied commit stands');
        rendered = appliedRender;
        this.synthCache.set(cacheKey, rendered);
      }
    }
    if (!rendered) {
      const previous = comparedWith ? await this.appliedObjects(comparedWith) : undefined;
      this.log.info({ commit: short }, 'synthesizing');
      try {
        const synthStarted = performance.now();
        const { appDir, checkoutDir, result: r } = await this.synthCommit(sha, { previous });
        timings.synthMs = performance.now() - synthStarted;
        if (sha === lastApplied && r.ok) this.applied = { sha, objects: r.objects };
        const approvals = await this.readApprovals(appDir, sha);
        const approvalWarnings = approvals.warnings.map((m): Diagnostic => ({ severity: 'warning', rule: 'release/approvals', message: m }));
        rendered = {
          objects: r.objects as unknown as SynthCacheEntry['objects'],
          errors: [...r.diagnostics.filter((d) => d.severity === 'error'), ...approvals.problems.map((m) => ({ severity: 'error' as const, rule: 'release/approvals', message: m }))],
          approvals: approvals.byRelease,
          ...(approvalWarnings.length ? { approvalWarnings } : {}),
          ...(this.options.unchanged ? { inputs: dependencyFiles(checkoutDir, this.config.path) } : {}),
        };
        // Approvals that do not count: every one, once per commit (they decide whether a gate opens).
        for (const w of approvalWarnings) this.log.warn({ rule: w.rule, commit: short }, w.message);
        // Warnings (advisory policies among them) once per commit, and not a thousand of them.
        const warnings = r.diagnostics.filter((d) => d.severity === 'warning');
        for (const w of warnings.slice(0, 20)) {
          this.log.warn({ rule: w.rule, object: w.object ? `${w.object.kind}/${w.object.name}` : undefined, path: w.path }, w.message);
        }
        if (warnings.length > 20) this.log.warn({ commit: short }, `${warnings.length - 20} more warning(s); run kgitops synth for all`);
      } catch (e) {
        // No sandbox: nothing about this commit is known yet, so nothing is cached for it.
        if (e instanceof SandboxUnavailableError) return fail([diag('sandbox/unavailable', e)], `commit ${short} was not synthesized: ${e.message}`);
        rendered = { objects: [], errors: [diag('synth/failed', e)], approvals: {} };
      }
      this.synthCache.clear(); // keep only the latest commit's render
      this.synthCache.set(cacheKey, rendered);
    }
    const render = rendered;
    this.approvalWarnings = render.approvalWarnings ?? [];
    if (render.errors.length) {
      return fail(render.errors, `commit ${short} is invalid (${rendered.errors.length} error(s)); the cluster keeps ${lastApplied ? `commit ${lastApplied.slice(0, 12)}` : 'what it has'}`);
    }
    if (this.options.divert) {
      const diverted = await this.options.divert({ sha, objects: render.objects as unknown as RenderedObject[], ...(signal ? { signal } : {}) });
      if (diverted) return done(diverted);
    }

    // 4. Desired objects: discovery (fails closed when a kind is not served)
    const desired: DesiredObject[] = [];
    const discoveryErrors: Diagnostic[] = [];
    const releaseStarts = new Map<string, NonNullable<ReleasePreparation['start']>>();
    const tracked: TrackedRelease[] = [];
    const heldWorkloads: HeldBackWorkload[] = [];
    // Where each rendered object is in `desired` (a fleet's plan is not there).
    const desiredAt = new Map<number, number>();
    for (const [i, o] of render.objects.entries()) {
      // A fleet's plan is the controller's to read (waves of clusters), never a cluster's object.
      if (isFleetPlan(o.manifest)) continue;
      try {
        const { manifest, release } = await prepareForApply(this.cluster, o.manifest, {
          id: this.id, defaultNamespace: this.config.namespace, releases: !!this.releases, now: this.clock.now(), approvals: render.approvals,
        });
        if (release) {
          tracked.push(release.tracked);
          if (release.heldBack) heldWorkloads.push(release.heldBack.record);
          if (release.start) releaseStarts.set(objectId(keyOf(manifest)), release.start);
        }
        const paths = release ? strategyPaths(release.tracked.kind) : undefined;
        desiredAt.set(i, desired.length);
        desired.push({
          manifest, id: objectId(keyOf(manifest)), hash: manifest.metadata.annotations!['kgitops.io/desired-hash'], constructPath: o.constructPath, source: o.source,
          // The release's partition and paused are kgitops-release's: never git's drift.
          ...(paths ? { ownedElsewhere: [paths.partition, ...(paths.paused ? [paths.paused] : [])] } : {}),
        });
      } catch (e) {
        // A CRD defined in this very commit is not served yet: the apply creates it (and waits
        // until it is established and served) before it dry-runs objects of its kind. Their scope
        // is the CRD's, as discovery will say once it serves them.
        const crd = e instanceof NotServedError ? render.objects.find((x) => definesKind(x.manifest, o.manifest)) : undefined;
        if (crd) {
          const manifest = prepareDesired(o.manifest, { id: this.id, namespaced: crd.manifest.spec?.scope !== 'Cluster', defaultNamespace: this.config.namespace });
          desiredAt.set(i, desired.length);
          desired.push({ manifest, id: objectId(keyOf(manifest)), hash: manifest.metadata.annotations![ANNOTATION_DESIRED_HASH], constructPath: o.constructPath, source: o.source });
          continue;
        }
        discoveryErrors.push({ ...diag(e instanceof ForbiddenError ? 'apply/forbidden' : 'cluster/not-served', e), object: { apiVersion: o.manifest.apiVersion, kind: o.manifest.kind, name: o.manifest.metadata?.name, namespace: o.manifest.metadata?.namespace }, constructPath: o.constructPath });
      }
    }
    if (discoveryErrors.length) return fail(dedupe(discoveryErrors), `commit ${short} cannot be applied: ${discoveryErrors[0].message}`);
    // cdk8s dependencies, from object indexes to ids.
    render.objects.forEach((o, i) => {
      const at = desiredAt.get(i);
      if (at === undefined || !o.dependsOn?.length) return;
      desired[at] = { ...desired[at]!, dependsOn: o.dependsOn.flatMap((j) => (desiredAt.has(j) ? [desired[desiredAt.get(j)!]!.id] : [])) };
    });

    // 5. Plan
    let planned: Plan;
    try {
      planned = await makePlan({
        cluster: this.cluster, applySetId: this.id, desired, inventory: state.data.inventory,
        knownGroupKinds: state.groupKinds, knownNamespaces: [this.store.namespace, ...state.namespaces],
      });
    } catch (e) {
      return fail([diag('plan/failed', e)], `could not read the cluster to plan commit ${short}: ${(e as Error).message}`);
    }
    // Objects that are not ours, and reads the app's identity may not do: refused before anything
    // is written (a tenant's repo must not take over what it did not create, nor plan blind).
    const foreign: Diagnostic[] = planned.foreign.map((f) => ({
      severity: 'error' as const, rule: 'apply/foreign-owner', constructPath: f.desired.constructPath,
      object: { apiVersion: f.desired.manifest.apiVersion, kind: f.desired.manifest.kind, name: f.desired.manifest.metadata.name, namespace: f.desired.manifest.metadata.namespace },
      message: `already exists and belongs to another ApplySet (${f.owner})`,
      hint: this.foreignOwnerHint(f.owner),
    }));
    const refusals = [...foreign, ...planRefusals(planned, this.id)];
    if (refusals.length) {
      const parts = [
        planned.foreign.length ? `would take over ${planned.foreign.length} object(s) of another app` : '',
        planned.unowned.length ? `declares ${planned.unowned.length} existing object(s) this app does not own` : '',
        planned.forbidden.length ? `needs ${planned.forbidden.length} read(s) this app's identity may not do` : '',
      ].filter(Boolean);
      return fail(refusals, `commit ${short} ${parts.join(', ')}; nothing applied`);
    }
    // Prune only on an inventory read as written. Damaged, or the parent gone while labelled
    // members live on: rebuild from the ApplySet labels (the ground truth) and prune nothing now.
    if (!parentLive && planned.members.size > 0) {
      const lost: StateProblem = {
        key: 'ConfigMap',
        message: `${this.store.describe()} is missing, but ${planned.members.size} object(s) carry its ApplySet label`,
        fix: 'the engine rebuilds it from those objects in this reconcile and prunes nothing in it; members of kinds this commit does not declare cannot be found without the parent: delete them by hand if they should go',
      };
      problems.push(lost);
      if (this.report(`state:${lost.key}:${lost.message}`)) this.log.warn({ key: lost.key, fix: lost.fix }, `damaged engine state: ${lost.message}`);
    }
    const inventoryTrusted = state.inventoryReadable && (!!parentLive || planned.members.size === 0);
    const heldBack = this.config.prune.enabled && !inventoryTrusted ? planned.prune : [];
    if (heldBack.length) this.log.warn({ objects: heldBack.length }, `prune skipped in this reconcile: the inventory was rebuilt from the ApplySet labels; ${heldBack.length} member(s) that left git are pruned on the next reconcile`);
    const pruneAll = this.config.prune.enabled && inventoryTrusted ? planned.prune : [];
    const pruneCount = pruneAll.filter((p) => p.allowed).length;
    if (pruneCount > 0 && !this.config.prune.allowMass) {
      const fraction = pruneCount / Math.max(1, planned.members.size);
      if (desired.length === 0 || fraction > this.config.prune.maxFraction) {
        return fail([{
          severity: 'error', rule: 'prune/mass-deletion',
          message: `refusing to delete ${pruneCount} of ${planned.members.size} managed objects (${desired.length === 0 ? 'git now declares none' : `more than ${Math.round(this.config.prune.maxFraction * 100)}%`})`,
          hint: 'if this is intended, run once with --allow-mass-prune; if not, check the commit (an empty or moved path?)',
        }], `commit ${short}: prune guard stopped a mass deletion`);
      }
    }

    const changes = planned.objects.filter((p) => p.action !== 'skip');
    const gks = [...new Set(desired.map((d) => gkOf(d.manifest)))];
    const namespaces = [...new Set(desired.map((d) => d.manifest.metadata.namespace).filter((n): n is string => !!n))];
    const sameCommit = state.data.status?.appliedCommit === sha && state.data.status?.sync !== 'Failed';

    if (changes.length === 0 && pruneCount === 0 && sameCommit) {
      // Steady state: report health; write only if it changed.
      // Steady state: the recorded status stands; rewrite it only when health changed.
      const objects = this.health(desired, planned.members);
      const previous = state.data.status!;
      this.logHealthChanges(previous.objects, objects);
      const { heldBack: _h, ...rest } = previous;
      const status: StatusSnapshot = {
        ...rest, ...resolvedOnly(resolved), objects, time: new Date(this.clock.now()).toISOString(), ...this.syncOf(heldWorkloads, previous.heldBack?.length ? `in sync at commit ${short}` : previous.message),
      };
      if (problems.length) {
        // Nothing to apply, but the parent needs repairing: rewrite it, and say so in its history.
        const entry: HistoryEntry = {
          commit: sha, time: status.time, durationMs: this.clock.now() - started, result: 'Succeeded',
          message: `in sync; repaired the engine state (${problems.map((p) => p.key).join(', ')})`, changes: { ...NO_CHANGES, unchanged: desired.length }, ...repairs(),
        };
        await writeState({ ...state.data, status, history: pushHistory(state.data.history, entry) }, state.groupKinds, state.namespaces)
          .catch((e) => this.log.error(`could not repair the parent: ${(e as Error).message}`));
      } else if (!sameStatus(previous, status)) {
        await writeState({ ...state.data, status }, state.groupKinds, state.namespaces).catch(() => {});
      }
      await this.releases?.track(tracked).catch((e) => this.log.error(`release tracking failed: ${(e as Error).message}`));
      return done({
        result: 'NoChange', commit: sha, message: heldWorkloads.length ? heldBackMessage(heldWorkloads) : 'in sync', changes: { ...NO_CHANGES, unchanged: desired.length },
        drift: [], errors: [], objects, historyRewritten, ...repairs(), ...(heldWorkloads.length ? { heldBack: heldWorkloads } : {}),
      });
    }

    // 6. Apply. First widen the parent's group-kinds so that a crash mid-apply still finds every member.
    const order = describeOrder(applyOrder(planned.objects, pruneAll));
    this.log.info({ commit: short, changes: changes.length, prune: pruneCount }, `applying: ${order.join('; ')}`);
    if (changes.length || pruneCount) {
      try {
        await writeState({ ...state.data, status: this.snapshot(lastApplied, sha, 'Progressing', `applying commit ${short}`, state.data.status?.objects ?? []) },
          [...new Set([...state.groupKinds, ...gks])], [...new Set([...state.namespaces, ...namespaces])]);
      } catch (e) {
        // Without a record of what we are about to do, we do not start: the state must stay findable.
        return fail([diag('state/write', e)], `cannot record state on ${this.store.describe()}: ${(e as Error).message}`);
      }
    }
    let outcome: ApplyOutcome;
    try {
      outcome = await applyPlan(planned.objects, pruneAll, {
        cluster: this.cluster, clock: this.clock, forceConflicts: this.config.forceConflicts, driftManagers: this.config.driftManagers,
        signal, onProgress: (m) => this.log.info(m),
        beforeWrite: async (p) => {
          const start = releaseStarts.get(p.desired.id);
          // The hold first, so that Kruise never sees the new template without it.
          if (start) await startRelease(this.cluster, start, (m) => this.log.info({ release: start.id }, m));
        },
      });
    } catch (e) {
      return fail([diag('apply/failed', e)], `applying commit ${short} failed: ${(e as Error).message}`);
    }
    writes += outcome.writes;
    const counts: ChangeCounts = {
      created: outcome.created.length, updated: outcome.updated.length - outcome.drift.length, pruned: outcome.pruned.length,
      unchanged: desired.length - outcome.created.length - outcome.updated.length, driftCorrected: outcome.drift.length,
    };
    for (const d of outcome.drift) this.log.warn({ object: d.id, fields: d.fields.join(','), by: d.managers.join(',') || 'unknown' }, 'drift corrected');

    // Inventory: what we wrote now, plus earlier entries of objects this run did not touch.
    const inventory: Inventory = {};
    for (const d of desired) {
      const entry = outcome.inventory[d.id] ?? state.data.inventory[d.id];
      if (entry) inventory[d.id] = entry;
    }
    // Members that left git but are still there (prune failed, disabled, or held back while the
    // inventory was rebuilt) stay in it, so that the next reconcile finds them.
    const remaining = [...pruneAll.filter((p) => !outcome.pruned.includes(p.id)), ...heldBack];
    for (const p of heldBack) {
      inventory[p.id] ??= { apiVersion: p.live.apiVersion, hash: p.live.metadata.annotations?.[ANNOTATION_DESIRED_HASH] ?? '' };
    }
    const failedPrunes = remaining.map((p) => gkOf(p.live));
    const remainingNamespaces = remaining.map((p) => p.live.metadata.namespace).filter((n): n is string => !!n);
    const finalGks = outcome.errors.length || outcome.interrupted ? [...new Set([...state.groupKinds, ...gks, ...failedPrunes])] : [...new Set([...gks, ...failedPrunes])];
    const liveNow = new Map([...planned.members, ...outcome.objects]);
    const objects = this.health(desired, liveNow);
    this.logHealthChanges(state.data.status?.objects, objects);
    const ok = outcome.errors.length === 0 && !outcome.interrupted;
    const result: ReconcileResultKind = outcome.interrupted ? 'Interrupted' : ok ? 'Succeeded' : 'Failed';
    if (ok) {
      // This commit is now the applied one: the next commit's policies compare with it, and its
      // own steady-state reconciles reuse this render.
      const before = this.applied;
      this.applied = { sha, objects: render.objects as unknown as RenderedObject[] };
      if (lastApplied !== sha) {
        // The previous commit's render is known when this one was compared with it (policies).
        const previous = lastApplied ? (before?.sha === lastApplied ? before : undefined) : null;
        this.change = previous === undefined ? undefined : appliedChange(this.config.app, previous ?? undefined, this.applied);
      }
      this.synthCache.set(`${sha}@`, render);
    }
    const message = outcome.interrupted
      ? `interrupted while applying commit ${short}; the next reconcile continues`
      : ok
        ? `applied commit ${short}: ${counts.created} created, ${counts.updated} updated, ${counts.pruned} pruned${counts.driftCorrected ? `, ${counts.driftCorrected} drift corrected` : ''}`
        : applyFailureMessage(outcome);
    const time = new Date(this.clock.now()).toISOString();
    const status: StatusSnapshot = {
      ...this.snapshot(ok ? sha : lastApplied, sha, ok ? 'Synced' : 'Failed', message, objects),
      ...(ok ? this.syncOf(heldWorkloads, message) : {}),
      ...resolved,
      ...(outcome.errors.length ? { errors: outcome.errors } : {}),
    };
    const entry: HistoryEntry = {
      commit: sha, time, durationMs: this.clock.now() - started, result, message, changes: counts,
      ...(outcome.drift.length ? { drift: outcome.drift } : {}), ...(historyRewritten ? { historyRewritten } : {}), ...repairs(),
      ...(outcome.notWritten.length ? { notWritten: outcome.notWritten } : {}),
    };
    await writeState({ inventory, status, history: pushHistory(state.data.history, entry) }, finalGks, [...new Set([...namespaces, ...remainingNamespaces, ...(ok ? [] : state.namespaces)])])
      .catch((e) => this.log.error(`could not record the result on the parent: ${(e as Error).message}`));
    if (ok) this.log.info({ commit: short, durationMs: entry.durationMs }, message);
    else for (const e of outcome.errors) this.log.error({ rule: e.rule }, e.message);
    await this.releases?.track(tracked).catch((e) => this.log.error(`release tracking failed: ${(e as Error).message}`));
    return done({
      result, commit: sha, message: ok && heldWorkloads.length ? `${message}; ${heldBackMessage(heldWorkloads)}` : message, changes: counts, drift: outcome.drift, errors: outcome.errors, objects, historyRewritten, order, ...repairs(),
      ...(ok && heldWorkloads.length ? { heldBack: heldWorkloads } : {}),
      ...(outcome.notWritten.length ? { notWritten: outcome.notWritten } : {}),
    });
  }

  /**
   * Synced, or OutOfSync while aborted releases keep workloads on their previous template: git
   * and the cluster differ until a new commit, and the status says so (with what to do).
   */
  private syncOf(held: readonly HeldBackWorkload[], message: string): Pick<StatusSnapshot, 'sync' | 'message' | 'heldBack'> {
    if (!held.length) return { sync: 'Synced', message };
    return { sync: 'OutOfSync', message: heldBackMessage(held), heldBack: [...held] };
  }

  /** True the first time a problem (by key) is seen since it was last forgotten: report it then. */
  private report(key: string): boolean {
    if (this.reported.has(key)) return false;
    this.reported.add(key);
    return true;
  }

  /** Forgets reported problems whose keys start with `prefix` (they are gone: report a recurrence). */
  private forget(prefix: string): void {
    for (const k of this.reported) if (k.startsWith(prefix)) this.reported.delete(k);
  }

  /** The error for a parent that records another app: both apps, and what to do. */
  private identityConflict(recorded: { repo: string; path: string }): Diagnostic {
    const where = this.store.describe();
    return {
      severity: 'error', rule: 'state/other-app',
      message: `${where} is the ApplySet parent of another app (${describeSource(recorded)}), not of this one (${describeSource(this.config.source)}): `
        + 'two apps sharing one parent would prune each other\'s objects, so this engine does not use it',
      hint: `give this app a name of its own: --app <other name> (or app: in kgitops.yaml)${this.config.appDerived ? '' : `, instead of "${this.config.app}"`}; `
        + `if the repo really moved, update the annotation kgitops.io/source-repo on ${where}`,
    };
  }

  /** Why an object belongs to another ApplySet, and what to do (names the old default parent). */
  private foreignOwnerHint(owner: string): string {
    const legacy = legacyAppName(this.config.repo);
    if (this.config.appDerived && owner === applySetId({ name: parentName(legacy), namespace: this.store.namespace })) {
      return `it belongs to ConfigMap ${this.store.namespace}/${parentName(legacy)}, the parent an earlier kgitops named after the repo basename; `
        + `to keep managing these objects, run with --app ${legacy} (or app: ${legacy} in kgitops.yaml)`;
    }
    return 'another app manages it; rename it here, or remove it from the other app first';
  }

  /** Logs each object whose health changed since the recorded status. */
  private logHealthChanges(before: ObjectStatus[] | undefined, after: ObjectStatus[]): void {
    const was = new Map((before ?? []).map((o) => [o.id, o]));
    for (const o of after) {
      const prev = was.get(o.id);
      if (prev?.health === o.health && prev?.message === o.message) continue;
      const name = `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;
      const line = `${name}: ${prev ? `${prev.health} -> ` : ''}${o.health} (${o.message})`;
      if (o.health === 'Failed' || o.health === 'Missing') this.log.warn(line);
      else this.log.info(line);
    }
  }

  /** Checks out a commit, makes its dependencies available and synthesizes its app. */
  private async synthCommit(sha: string, options: Pick<SynthOptions, 'previous' | 'policies' | 'typecheck'>): Promise<{ appDir: string; checkoutDir: string; result: SynthResult }> {
    const sandbox = await this.sandboxFor();
    void seedTransformCache(this.config.cacheDir);
    const wt = await this.source.checkout(sha);
    // The app path may not lead out of the checkout, not even through a symlinked directory.
    const appDir = confinedPath(wt.dir, this.config.path, 'app path');
    const deps = await prepareDependencies(appDir, wt.dir, { cacheDir: this.config.cacheDir, onProgress: (m) => this.log.info(m) });
    if (deps === 'engine') this.warmPool(sandbox);
    else if (this.warm && !this.sharedWarm) {
      // The repo brings its own packages: a worker preloaded with the engine's would be wrong for it.
      this.warm.close();
      this.warm = undefined;
    }
    const result = await synthesize(appDir, {
      typecheck: this.config.typecheck, cacheDir: this.config.cacheDir,
      ...options, timeoutMs: this.config.synthTimeoutMs, sandbox, root: wt.dir, limits: this.config.sandbox.limits,
      warm: deps === 'engine' ? this.warm : undefined,
    });
    // A repo with policies/ runs two processes per commit (the app and its policies): keep two ready.
    if (deps === 'engine' && options.policies !== false) this.warm?.keepReady(hasPolicyFiles(appDir) ? 2 : 1);
    return { appDir, checkoutDir: wt.dir, result };
  }

  /** What the applied commit changed, when this process knows it (it applied it, or recallChange). */
  appliedChange(): DiffResult | undefined {
    return this.applied && this.change?.head.sha === this.applied.sha ? this.change : undefined;
  }

  /**
   * The change of the applied commit when this process did not apply it (a restart, a shard
   * handed over): renders `previous`, the commit applied before it, again. Only between two
   * reconciles of the app (they share the checkouts), and only when somebody asks: a restart
   * must not cost every app a second synth.
   */
  async recallChange(previous: string | undefined): Promise<DiffResult | undefined> {
    const known = this.appliedChange();
    if (known || !this.applied) return known;
    const after = this.applied;
    let before: { sha: string; objects: RenderedObject[] } | undefined;
    if (previous) {
      const { result: r } = await this.synthCommit(previous, { policies: false, typecheck: false });
      if (!r.ok) throw new Error(`commit ${previous.slice(0, 12)} does not render again: ${r.diagnostics.find((d) => d.severity === 'error')?.message ?? 'invalid'}`);
      before = { sha: previous, objects: r.objects };
    }
    this.change = appliedChange(this.config.app, before, after);
    return this.change;
  }

  /**
   * The rendered objects of the applied commit: kept from when it was applied, or (after a
   * restart) synthesized again. Undefined when that fails: comparing policies then skip.
   */
  private async appliedObjects(sha: string): Promise<RenderedObject[] | undefined> {
    if (this.applied?.sha === sha) return this.applied.objects;
    try {
      // It was type-checked when it was applied; here it is only the policies' point of comparison.
      const { result: r } = await this.synthCommit(sha, { policies: false, typecheck: false });
      if (!r.ok) throw new Error(r.diagnostics.find((d) => d.severity === 'error')?.message ?? 'invalid');
      this.applied = { sha, objects: r.objects };
      return r.objects;
    } catch (e) {
      this.log.warn({ commit: sha.slice(0, 12) }, `could not render the applied commit, so policies that compare versions skip this one: ${(e as Error).message}`);
      return undefined;
    }
  }

  private health(desired: DesiredObject[], live: Map<string, KubeObject>): ObjectStatus[] {
    return desired.map((d) => {
      const h = assessHealth(live.get(d.id));
      const m = d.manifest;
      return { id: d.id, apiVersion: m.apiVersion, kind: m.kind, name: m.metadata.name, ...(m.metadata.namespace ? { namespace: m.metadata.namespace } : {}), health: h.status, message: h.message };
    });
  }

  private snapshot(appliedCommit: string | undefined, attemptedCommit: string, sync: StatusSnapshot['sync'], message: string, objects: ObjectStatus[]): StatusSnapshot {
    return {
      app: this.config.app, ...(appliedCommit ? { appliedCommit } : {}), attemptedCommit, sync, message,
      time: new Date(this.clock.now()).toISOString(), objects, ...(this.approvalWarnings.length ? { warnings: this.approvalWarnings } : {}),
    };
  }

  /**
   * approvals.yaml next to cdk8s.yaml, read from git and checked against the configured
   * approvers (release/git-approvals.ts). A source that cannot check signatures counts none.
   */
  private async readApprovals(appDir: string, sha: string): Promise<ApprovalsRead> {
    const path = posix.join(this.config.path.replace(/\\/g, '/'), 'approvals.yaml');
    if (!this.source.history) {
      // Only whether it is there (lstat: a symlink is not followed), never its content.
      let present = false;
      try { lstatSync(join(appDir, 'approvals.yaml')); present = true; } catch { /* none */ }
      return { byRelease: {}, problems: [], warnings: present ? [`${path}: its entries do not count: the source ${this.source.describe()} cannot check commit signatures`] : [] };
    }
    const approvers = this.config.approvers;
    const trust = approvers ? () => {
      this.signatureTrust ??= prepareSignatureTrust(approvers, this.config.cacheDir);
      this.signatureTrust.catch(() => { this.signatureTrust = undefined; });
      return this.signatureTrust;
    } : undefined;
    try {
      return await readGitApprovals({ history: this.source.history, commit: sha, path, trust });
    } catch (e) {
      return { byRelease: {}, problems: [`${path}: could not check its approvals: ${(e as Error).message}`], warnings: [] };
    }
  }
}

/**
 * A failed apply in words: a dry-run that failed (nothing written, definitions created for it
 * deleted again), or a write that failed after every dry-run had passed (what was written, what
 * was not, with the API's reason).
 */
function applyFailureMessage(outcome: ApplyOutcome): string {
  const names = (ids: string[]) => `${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ` and ${ids.length - 10} more` : ''}`;
  const first = outcome.errors[0].message;
  if (outcome.aborted) {
    return `nothing applied: ${first}${outcome.rolledBack.length ? `; created for the dry-run and deleted again: ${names(outcome.rolledBack)}` : ''}`;
  }
  if (!outcome.notWritten.length) return `partly applied: ${first}`;
  return `partly applied: ${outcome.written.length} written (${outcome.written.length ? names(outcome.written) : 'none'}), `
    + `${outcome.notWritten.length} not written (${names(outcome.notWritten.map((n) => n.id))}): ${outcome.notWritten[0].reason}`;
}

/** Status without its time stamp, to tell whether anything changed. */
/** What a status records of the ref a commit came through (see StatusSnapshot.ref). */
function resolvedRef(r: { ref?: string; refName?: string | null; defaultBranch?: true }): Pick<StatusSnapshot, 'ref' | 'defaultBranch'> {
  const ref = r.refName ?? (r.defaultBranch ? undefined : r.ref);
  return { ...(ref ? { ref } : {}), ...(r.defaultBranch ? { defaultBranch: true } : {}) };
}

/** Over an earlier status: this reconcile's ref, and none of the earlier one's it does not have. */
function resolvedOnly(r: Pick<StatusSnapshot, 'ref' | 'defaultBranch'>): Pick<StatusSnapshot, 'ref' | 'defaultBranch'> {
  return { ref: r.ref, defaultBranch: r.defaultBranch };
}

/**
 * Whether a status says the same as the one recorded, apart from its time. Key order does not
 * count: a state read back from an App's status is rebuilt in an order of its own, and a steady
 * App must not rewrite its status every interval.
 */
function sameStatus(a: StatusSnapshot | undefined, b: StatusSnapshot): boolean {
  if (!a) return false;
  return canonicalJson({ ...a, time: undefined }) === canonicalJson({ ...b, time: undefined });
}

function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x)
    ? Object.fromEntries(Object.entries(x as Record<string, unknown>).filter(([, y]) => y !== undefined).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0)))
    : x));
}

function diag(rule: string, e: unknown): Diagnostic {
  const err = e as Error & { hint?: string };
  return { severity: 'error', rule, message: err?.message ?? String(e), ...(err instanceof ApiError || err?.hint ? { hint: err.hint } : {}) };
}

function dedupe(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const k = d.message;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function overallHealth(objects: ObjectStatus[]) {
  return worstHealth(objects.map((o) => o.health));
}

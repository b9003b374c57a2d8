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
import { applyPlan, type ApplyOutcome } from './apply/index.js';
import {
  applySetId, gkOf, manifestHash, parentManifest, parentName, prepareDesired, readParent, type ApplySetParentRef,
} from './apply/applyset.js';
import { ApiError, NotServedError } from './cluster/errors.js';
import { type Cluster, type KubeObject, keyOf, objectId } from './cluster/types.js';
import type { Clock } from './clock.js';
import type { EngineConfig } from './config.js';
import { assessHealth, worstHealth } from './health/index.js';
import type { Logger } from './log.js';
import { type DesiredObject, plan as makePlan, type Plan } from './plan/index.js';
import {
  type ChangeCounts, type ConfigMapData, type DriftRecord, type HistoryEntry, type Inventory, type ObjectStatus, pushHistory,
  type StatusSnapshot,
} from './state.js';
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { ReleaseController, TrackedRelease } from './release/controller.js';
import { ANNOTATION_RELEASE_PLAN } from '../dsl/release.js';
import { releaseKind } from './release/plan.js';
import type { GitApproval } from './release/machine.js';
import { parseApprovals, prepareRelease, type ReleasePreparation, startRelease } from './release/start.js';
import { prepareDependencies } from './synth/dependencies.js';
import { appEnvironment, synthesize, type SynthOptions, type SynthResult } from './synth/index.js';
import { WarmSynthPool } from './synth/warm.js';

/** Where commits come from. GitSource implements it; tests may use their own. */
export interface Source {
  /** Printable, without credentials. */
  describe(): string;
  fetch(): Promise<{ sha: string; message?: string }>;
  checkout(sha: string): Promise<{ dir: string }>;
  isAncestor?(older: string, newer: string): Promise<boolean>;
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
}

interface SynthCacheEntry {
  readonly objects: { manifest: KubeObject; constructPath?: string; source?: string; dependsOn?: number[] }[];
  readonly errors: Diagnostic[];
  /** Approvals committed next to the app (approvals.yaml), by release id. */
  readonly approvals: Record<string, GitApproval[]>;
}

const NO_CHANGES: ChangeCounts = { created: 0, updated: 0, pruned: 0, unchanged: 0, driftCorrected: 0 };

/**
 * What the engine applies for one rendered object: the namespace defaulted, a release prepared
 * when the workload has a plan (release-owned fields left out, the hold when a release starts),
 * and the ApplySet labels and desired hash. `kgitops diff --live` dry-runs the same.
 */
export async function prepareForApply(cluster: Cluster, rendered: KubeObject, o: {
  id: string; defaultNamespace: string; releases: boolean; now: number; approvals: Record<string, GitApproval[]>;
}): Promise<{ manifest: KubeObject; release?: ReleasePreparation }> {
  const info = await cluster.resource(rendered.apiVersion, rendered.kind);
  let source = rendered;
  let release: ReleasePreparation | undefined;
  if (o.releases && rendered.metadata?.annotations?.[ANNOTATION_RELEASE_PLAN] !== undefined && releaseKind(rendered)) {
    const located = info.namespaced ? { ...source, metadata: { ...source.metadata, namespace: source.metadata.namespace ?? o.defaultNamespace } } : source;
    release = prepareRelease(located, await cluster.get(keyOf(located)), o.now, o.approvals);
    if (release) source = release.desired;
  }
  const manifest = prepareDesired(source, { id: o.id, namespaced: info.namespaced, defaultNamespace: o.defaultNamespace });
  return { manifest, ...(release ? { release } : {}) };
}

export class Reconciler {
  /** Rendered objects per commit: an unchanged commit is never synthesized twice. */
  private readonly synthCache = new Map<string, SynthCacheEntry>();
  private readonly parent: ApplySetParentRef;
  private readonly id: string;
  /** The objects of the applied commit, which policies compare a new commit with. */
  private applied?: { readonly sha: string; readonly objects: RenderedObject[] };
  /** A synth process started ahead of the next commit (apps on the engine's packages). */
  private readonly warm = new WarmSynthPool(appEnvironment({ NODE_OPTIONS: '--max-old-space-size=2048' }));

  constructor(
    private readonly config: EngineConfig,
    private readonly cluster: Cluster,
    private readonly source: Source,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Drives the releases of workloads with release plans (absent: templates apply at once). */
    private readonly releases?: ReleaseController,
  ) {
    this.parent = { name: parentName(config.app), namespace: config.parentNamespace };
    this.id = applySetId(this.parent);
  }

  get applySetId(): string {
    return this.id;
  }

  /** Stops the spare synth worker. */
  close(): void {
    this.warm.close();
  }

  async reconcile(signal?: AbortSignal): Promise<ReconcileResult> {
    const started = this.clock.now();
    let writes = 0;
    const done = (r: Omit<ReconcileResult, 'durationMs' | 'writes'>): ReconcileResult => ({ ...r, durationMs: this.clock.now() - started, writes });

    // 1. Source
    let sha: string;
    try {
      sha = (await this.source.fetch()).sha;
    } catch (e) {
      const err = diag('source/fetch', e);
      this.log.error({ source: this.source.describe() }, err.message);
      return done({ result: 'Failed', message: err.message, changes: NO_CHANGES, drift: [], errors: [err], objects: [] });
    }
    const short = sha.slice(0, 12);

    // 2. State from the cluster
    let parentLive: KubeObject | undefined;
    try {
      parentLive = await this.cluster.get({ apiVersion: 'v1', kind: 'ConfigMap', ...this.parent });
    } catch (e) {
      const err = diag('cluster/read', e);
      this.log.error(err.message);
      return done({ result: 'Failed', commit: sha, message: err.message, changes: NO_CHANGES, drift: [], errors: [err], objects: [] });
    }
    const state = readParent(parentLive);
    const lastApplied = state.data.status?.appliedCommit;
    let historyRewritten = false;
    if (lastApplied && lastApplied !== sha && this.source.isAncestor) {
      historyRewritten = !(await this.source.isAncestor(lastApplied, sha).catch(() => true));
      if (historyRewritten) this.log.warn({ previous: lastApplied.slice(0, 12), commit: short }, 'history was rewritten (force-push): the applied commit is not an ancestor of the new one');
    }

    const writeState = async (data: ConfigMapData, groupKinds: string[], namespaces: string[]) => {
      await this.cluster.apply(parentManifest(this.parent, { groupKinds, namespaces, data }), { fieldManager: 'kgitops' });
      writes++;
    };
    const fail = async (errors: Diagnostic[], message: string, extra: Partial<HistoryEntry> = {}): Promise<ReconcileResult> => {
      for (const e of errors) this.log.error({ rule: e.rule, object: e.object ? `${e.object.kind}/${e.object.name}` : undefined, path: e.path }, e.message);
      const status: StatusSnapshot = {
        ...(state.data.status ?? { app: this.config.app, objects: [] }),
        app: this.config.app, attemptedCommit: sha, sync: 'Failed', message, time: new Date(this.clock.now()).toISOString(), errors,
      };
      const isRepeat = state.data.status?.attemptedCommit === sha && state.data.status?.sync === 'Failed' && state.data.status?.message === message;
      if (!isRepeat) {
        const entry: HistoryEntry = {
          commit: sha, time: status.time, durationMs: this.clock.now() - started, result: 'Failed', message, changes: NO_CHANGES, historyRewritten, ...extra,
        };
        await writeState({ ...state.data, status, history: pushHistory(state.data.history, entry) }, state.groupKinds, state.namespaces)
          .catch((e) => this.log.error(`could not record the failure on the parent: ${(e as Error).message}`));
      }
      return done({ result: 'Failed', commit: sha, message, changes: NO_CHANGES, drift: [], errors, objects: state.data.status?.objects ?? [], historyRewritten });
    };

    // 3. Synth + validate (cached per commit)
    // Policies that compare versions (in-place-only-images) see the applied commit's objects.
    const comparedWith = lastApplied && lastApplied !== sha ? lastApplied : undefined;
    const cacheKey = `${sha}@${comparedWith ?? ''}`;
    let rendered: SynthCacheEntry | undefined = this.synthCache.get(cacheKey);
    if (!rendered) {
      const previous = comparedWith ? await this.appliedObjects(comparedWith) : undefined;
      this.log.info({ commit: short }, 'synthesizing');
      try {
        const { appDir, result: r } = await this.synthCommit(sha, { previous });
        if (sha === lastApplied && r.ok) this.applied = { sha, objects: r.objects };
        const approvals = readApprovals(appDir, sha);
        rendered = {
          objects: r.objects as unknown as SynthCacheEntry['objects'],
          errors: [...r.diagnostics.filter((d) => d.severity === 'error'), ...approvals.problems.map((m) => ({ severity: 'error' as const, rule: 'release/approvals', message: m }))],
          approvals: approvals.byRelease,
        };
        // Warnings (advisory policies among them) once per commit, and not a thousand of them.
        const warnings = r.diagnostics.filter((d) => d.severity === 'warning');
        for (const w of warnings.slice(0, 20)) {
          this.log.warn({ rule: w.rule, object: w.object ? `${w.object.kind}/${w.object.name}` : undefined, path: w.path }, w.message);
        }
        if (warnings.length > 20) this.log.warn({ commit: short }, `${warnings.length - 20} more warning(s); run kgitops synth for all`);
      } catch (e) {
        rendered = { objects: [], errors: [diag('synth/failed', e)], approvals: {} };
      }
      this.synthCache.clear(); // keep only the latest commit's render
      this.synthCache.set(cacheKey, rendered);
    }
    const render = rendered;
    if (render.errors.length) {
      return fail(render.errors, `commit ${short} is invalid (${rendered.errors.length} error(s)); the cluster keeps ${lastApplied ? `commit ${lastApplied.slice(0, 12)}` : 'what it has'}`);
    }

    // 4. Desired objects: discovery (fails closed when a kind is not served)
    const desired: DesiredObject[] = [];
    const discoveryErrors: Diagnostic[] = [];
    const releaseStarts = new Map<string, NonNullable<ReleasePreparation['start']>>();
    const tracked: TrackedRelease[] = [];
    for (const o of render.objects) {
      try {
        const { manifest, release } = await prepareForApply(this.cluster, o.manifest, {
          id: this.id, defaultNamespace: this.config.namespace, releases: !!this.releases, now: this.clock.now(), approvals: render.approvals,
        });
        if (release) {
          tracked.push(release.tracked);
          if (release.start) releaseStarts.set(objectId(keyOf(manifest)), release.start);
        }
        desired.push({ manifest, id: objectId(keyOf(manifest)), hash: manifest.metadata.annotations!['kgitops.io/desired-hash'], constructPath: o.constructPath, source: o.source });
      } catch (e) {
        // A CRD defined in this very commit is not served yet: it is created in stage 0.
        if (e instanceof NotServedError && render.objects.some((x) => definesKind(x.manifest, o.manifest))) {
          const manifest = prepareDesired(o.manifest, { id: this.id, namespaced: true, defaultNamespace: this.config.namespace });
          desired.push({ manifest, id: objectId(keyOf(manifest)), hash: manifestHash(manifest), constructPath: o.constructPath, source: o.source });
          continue;
        }
        discoveryErrors.push({ ...diag('cluster/not-served', e), object: { apiVersion: o.manifest.apiVersion, kind: o.manifest.kind, name: o.manifest.metadata?.name, namespace: o.manifest.metadata?.namespace }, constructPath: o.constructPath });
      }
    }
    if (discoveryErrors.length) return fail(dedupe(discoveryErrors), `commit ${short} cannot be applied: ${discoveryErrors[0].message}`);
    // cdk8s dependencies, from object indexes to ids.
    render.objects.forEach((o, i) => {
      if (o.dependsOn?.length) desired[i] = { ...desired[i], dependsOn: o.dependsOn.map((j) => desired[j].id) };
    });

    // 5. Plan
    let planned: Plan;
    try {
      planned = await makePlan({
        cluster: this.cluster, applySetId: this.id, desired, inventory: state.data.inventory,
        knownGroupKinds: state.groupKinds, knownNamespaces: [this.parent.namespace, ...state.namespaces],
      });
    } catch (e) {
      return fail([diag('plan/failed', e)], `could not read the cluster to plan commit ${short}: ${(e as Error).message}`);
    }
    if (planned.foreign.length) {
      return fail(planned.foreign.map((f) => ({
        severity: 'error' as const, rule: 'apply/foreign-owner', constructPath: f.desired.constructPath,
        object: { apiVersion: f.desired.manifest.apiVersion, kind: f.desired.manifest.kind, name: f.desired.manifest.metadata.name, namespace: f.desired.manifest.metadata.namespace },
        message: `already exists and belongs to another ApplySet (${f.owner})`,
        hint: 'another app manages it; rename it here, or remove it from the other app first',
      })), `commit ${short} would take over objects of another app`);
    }
    const pruneAll = this.config.prune.enabled ? planned.prune : [];
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
      const status: StatusSnapshot = { ...previous, sync: 'Synced', objects, time: new Date(this.clock.now()).toISOString() };
      if (!sameStatus(previous, status)) await writeState({ ...state.data, status }, state.groupKinds, state.namespaces).catch(() => {});
      await this.releases?.track(tracked).catch((e) => this.log.error(`release tracking failed: ${(e as Error).message}`));
      return done({ result: 'NoChange', commit: sha, message: 'in sync', changes: { ...NO_CHANGES, unchanged: desired.length }, drift: [], errors: [], objects, historyRewritten });
    }

    // 6. Apply. First widen the parent's group-kinds so that a crash mid-apply still finds every member.
    this.log.info({ commit: short, changes: changes.length, prune: pruneCount }, 'applying');
    if (changes.length || pruneCount) {
      try {
        await writeState({ ...state.data, status: this.snapshot(lastApplied, sha, 'Progressing', `applying commit ${short}`, state.data.status?.objects ?? []) },
          [...new Set([...state.groupKinds, ...gks])], [...new Set([...state.namespaces, ...namespaces])]);
      } catch (e) {
        // Without a record of what we are about to do, we do not start: the state must stay findable.
        return fail([diag('state/write', e)], `cannot record state on ConfigMap ${this.parent.namespace}/${this.parent.name}: ${(e as Error).message}`);
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
    const failedPrunes = pruneAll.filter((p) => !outcome.pruned.includes(p.id)).map((p) => gkOf(p.live));
    const finalGks = outcome.errors.length || outcome.interrupted ? [...new Set([...state.groupKinds, ...gks])] : [...new Set([...gks, ...failedPrunes])];
    const liveNow = new Map([...planned.members, ...outcome.objects]);
    const objects = this.health(desired, liveNow);
    this.logHealthChanges(state.data.status?.objects, objects);
    const ok = outcome.errors.length === 0 && !outcome.interrupted;
    const result: ReconcileResultKind = outcome.interrupted ? 'Interrupted' : ok ? 'Succeeded' : 'Failed';
    if (ok) {
      // This commit is now the applied one: the next commit's policies compare with it, and its
      // own steady-state reconciles reuse this render.
      this.applied = { sha, objects: render.objects as unknown as RenderedObject[] };
      this.synthCache.set(`${sha}@`, render);
    }
    const message = outcome.interrupted
      ? `interrupted while applying commit ${short}; the next reconcile continues`
      : ok
        ? `applied commit ${short}: ${counts.created} created, ${counts.updated} updated, ${counts.pruned} pruned${counts.driftCorrected ? `, ${counts.driftCorrected} drift corrected` : ''}`
        : `${outcome.aborted ? 'nothing applied' : 'partly applied'}: ${outcome.errors[0].message}`;
    const time = new Date(this.clock.now()).toISOString();
    const status: StatusSnapshot = {
      ...this.snapshot(ok ? sha : lastApplied, sha, ok ? 'Synced' : 'Failed', message, objects),
      ...(outcome.errors.length ? { errors: outcome.errors } : {}),
    };
    const entry: HistoryEntry = {
      commit: sha, time, durationMs: this.clock.now() - started, result, message, changes: counts,
      ...(outcome.drift.length ? { drift: outcome.drift } : {}), ...(historyRewritten ? { historyRewritten } : {}),
    };
    await writeState({ inventory, status, history: pushHistory(state.data.history, entry) }, finalGks, [...new Set([...namespaces, ...(ok ? [] : state.namespaces)])])
      .catch((e) => this.log.error(`could not record the result on the parent: ${(e as Error).message}`));
    if (ok) this.log.info({ commit: short, durationMs: entry.durationMs }, message);
    else for (const e of outcome.errors) this.log.error({ rule: e.rule }, e.message);
    await this.releases?.track(tracked).catch((e) => this.log.error(`release tracking failed: ${(e as Error).message}`));
    return done({ result, commit: sha, message, changes: counts, drift: outcome.drift, errors: outcome.errors, objects, historyRewritten });
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
  private async synthCommit(sha: string, options: Pick<SynthOptions, 'previous' | 'policies'>): Promise<{ appDir: string; result: SynthResult }> {
    const wt = await this.source.checkout(sha);
    const appDir = join(wt.dir, this.config.path);
    const deps = await prepareDependencies(appDir, wt.dir, { cacheDir: this.config.cacheDir, onProgress: (m) => this.log.info(m) });
    const result = await synthesize(appDir, { ...options, timeoutMs: this.config.synthTimeoutMs, warm: deps === 'engine' ? this.warm : undefined });
    return { appDir, result };
  }

  /**
   * The rendered objects of the applied commit: kept from when it was applied, or (after a
   * restart) synthesized again. Undefined when that fails: comparing policies then skip.
   */
  private async appliedObjects(sha: string): Promise<RenderedObject[] | undefined> {
    if (this.applied?.sha === sha) return this.applied.objects;
    try {
      const { result: r } = await this.synthCommit(sha, { policies: false });
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
      time: new Date(this.clock.now()).toISOString(), objects,
    };
  }
}

/** Status without its time stamp, to tell whether anything changed. */
function sameStatus(a: StatusSnapshot | undefined, b: StatusSnapshot): boolean {
  if (!a) return false;
  const strip = (s: StatusSnapshot) => JSON.stringify({ ...s, time: undefined });
  return strip(a) === strip(b);
}

/** approvals.yaml next to cdk8s.yaml, if there is one. */
function readApprovals(appDir: string, commit: string): ReturnType<typeof parseApprovals> {
  const file = join(appDir, 'approvals.yaml');
  if (!existsSync(file)) return { byRelease: {}, problems: [] };
  try {
    return parseApprovals(parseYaml(readFileSync(file, 'utf8')), commit);
  } catch (e) {
    return { byRelease: {}, problems: [`approvals.yaml: invalid YAML: ${(e as Error).message}`] };
  }
}

function definesKind(crd: KubeObject, o: KubeObject): boolean {
  if (crd.kind !== 'CustomResourceDefinition') return false;
  const group = o.apiVersion.split('/')[0];
  return crd.spec?.group === group && crd.spec?.names?.kind === o.kind;
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

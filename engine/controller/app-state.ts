/**
 * An App's state in its own status: the inventory, the last status and the history the
 * reconciler keeps (engine/state.ts), and the kstatus conditions people and `kubectl wait` read.
 * Written by the controller's identity, never the tenant's: the tenant's ServiceAccount needs no
 * right on it, and no App's repo can reach another App's state.
 *
 * Two field managers share the status with server-side apply: `kgitops-controller` (this store:
 * everything a reconcile decides) and `kgitops-releases` (the releases in progress, written as
 * the release controller evaluates them), so neither write erases the other's fields.
 */
import { type ParentState, readParent } from '../apply/applyset.js';
import type { Cluster, KubeObject } from '../cluster/types.js';
import type { Diagnostic } from '../../dsl/diagnostics.js';
import { worstHealth } from '../health/index.js';
import { appSource } from '../identity.js';
import type { ConfigMapData, StateStore, StatusSnapshot } from '../state.js';
import {
  APP_API_VERSION, APP_KIND, type AppCondition, type AppObject, type AppStatus, appApplySetId, type ReleaseStatus,
} from './app-resource.js';

export const STATUS_MANAGER = 'kgitops-controller';
export const RELEASES_MANAGER = 'kgitops-releases';

/** Reads an App's status as the reconciler's ParentState (validated as a parent ConfigMap is). */
export function stateOfApp(app: AppObject | undefined): ParentState {
  const s = app?.status;
  if (!app || !s?.inventory) {
    // An App not reconciled yet: a new app (no parent), whatever its status says besides.
    return { ...readParent(undefined), exists: false };
  }
  const inventory: Record<string, unknown> = {};
  for (const e of s.inventory.entries ?? []) {
    inventory[e.id] = { apiVersion: e.v, hash: e.hash, ...(e.generation !== undefined ? { generation: e.generation } : {}), ...(e.resourceVersion !== undefined ? { resourceVersion: e.resourceVersion } : {}) };
  }
  const snapshot: StatusSnapshot | undefined = s.sync && s.lastReconcile ? {
    app: app.metadata.name,
    ...(s.appliedCommit ? { appliedCommit: s.appliedCommit } : {}),
    ...(s.attemptedCommit ? { attemptedCommit: s.attemptedCommit } : {}),
    ...(s.ref ? { ref: s.ref } : {}),
    ...(s.defaultBranch ? { defaultBranch: true as const } : {}),
    sync: s.sync === 'Suspended' ? 'Synced' : s.sync as StatusSnapshot['sync'],
    message: s.lastReconcile.message,
    time: s.lastReconcile.time,
    objects: (s.objects ?? []) as StatusSnapshot['objects'],
    ...(s.lastReconcile.errors?.length ? { errors: s.lastReconcile.errors.map((e) => ({ severity: 'error' as const, ...e })) } : {}),
    ...(s.warnings?.length ? { warnings: s.warnings.map((e) => ({ severity: 'warning' as const, ...e })) } : {}),
    ...(s.heldBack?.length ? { heldBack: s.heldBack.map((h) => ({ ...h })) } : {}),
  } : undefined;
  const parent: KubeObject = {
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: {
      name: app.metadata.name, namespace: app.metadata.namespace,
      annotations: { 'applyset.kubernetes.io/contains-group-kinds': s.inventory.groupKinds.join(','), 'applyset.kubernetes.io/additional-namespaces': s.inventory.namespaces.join(',') },
    },
    data: {
      ...(s.inventory.readable === false ? {} : { 'inventory.json': JSON.stringify(inventory) }),
      'status.json': JSON.stringify(snapshot ?? null),
      'history.json': JSON.stringify(s.history ?? []),
    },
  };
  const read = readParent(parent);
  // The App names its state: what a problem message calls "ConfigMap ns/name" is its status.
  const problems = read.problems.map((p) => ({ ...p, message: p.message.replace(`ConfigMap ${app.metadata.namespace}/${app.metadata.name}`, `App ${app.metadata.namespace}/${app.metadata.name} status`) }));
  // The App is its own identity: its state is always its current spec's (no parent of another
  // app to refuse, and no earlier engine's to adopt; a changed spec.source is the App's to make).
  const repo = app.spec?.source?.repo;
  return { ...read, problems, ...(typeof repo === 'string' ? { source: appSource(repo, app.spec.source.path ?? '.') } : {}) };
}

const errorOf = (d: Diagnostic) => ({
  rule: d.rule, message: d.message, ...(d.hint ? { hint: d.hint } : {}),
  ...(d.object ? { object: { apiVersion: d.object.apiVersion, kind: d.object.kind, ...(d.object.name ? { name: d.object.name } : {}), ...(d.object.namespace ? { namespace: d.object.namespace } : {}) } } : {}),
  ...(d.path ? { path: d.path } : {}), ...(d.constructPath ? { constructPath: d.constructPath } : {}), ...(d.source ? { source: d.source } : {}),
});

/** Rules of failures that the same commit will never get past: the App is Stalled until a new commit or spec. */
const STALLING = /^(synth|schema|policy|validate|typecheck|release\/approvals|apply\/(not-owned|state-object|forbidden|foreign-owner)|prune\/mass-deletion|app\/)/;

/** kstatus conditions (Ready, Reconciling, Stalled) from what a reconcile found. */
export function conditionsFor(o: {
  sync: string; health: string; message: string; errors: readonly { rule: string }[]; generation?: number; now: string; previous?: readonly AppCondition[];
  /** Workloads an aborted release keeps on their previous template (Ready False, ReleaseAborted). */
  heldBack?: number;
}): AppCondition[] {
  const stalled = o.sync === 'Failed' && o.errors.length > 0 && o.errors.every((e) => STALLING.test(e.rule));
  const ready = o.sync === 'Synced' && o.health === 'Current';
  const progressing = o.sync === 'Synced' && (o.health === 'Progressing' || o.health === 'PausedAtPartition');
  const want: Omit<AppCondition, 'lastTransitionTime'>[] = [
    {
      type: 'Ready', status: ready ? 'True' : 'False',
      reason: ready ? 'Succeeded' : o.sync === 'OutOfSync' && o.heldBack ? 'ReleaseAborted' : o.sync === 'Suspended' ? 'Suspended' : o.sync === 'Failed' ? (stalled ? 'InvalidCommit' : 'ReconcileFailed') : progressing ? 'Progressing' : o.sync === 'Synced' ? `Health${o.health}` : o.sync,
      message: o.message,
    },
    { type: 'Reconciling', status: progressing ? 'True' : 'False', reason: progressing ? 'Progressing' : 'Idle', message: progressing ? o.message : '' },
    { type: 'Stalled', status: stalled ? 'True' : 'False', reason: stalled ? 'InvalidCommit' : 'Idle', message: stalled ? o.message : '' },
  ];
  return want.map((c) => {
    const prev = o.previous?.find((p) => p.type === c.type);
    const since = prev && prev.status === c.status ? prev.lastTransitionTime : o.now;
    return { ...c, lastTransitionTime: since, ...(o.generation !== undefined ? { observedGeneration: o.generation } : {}) };
  });
}

/** The releases in progress, in one phrase for the printer column: `storefront 2/4 (bake)`. */
export function releaseSummary(releases: readonly ReleaseStatus[]): string {
  const active = releases.filter((r) => r.phase === 'Progressing' || r.phase === 'Paused');
  if (!active.length) return '';
  const one = (r: ReleaseStatus) => `${r.workload.split('/').pop()} ${r.step}/${r.steps}${r.phase === 'Paused' ? ' paused' : r.waitingOn ? ` (${r.waitingOn})` : ''}`;
  return active.length === 1 ? one(active[0]!) : `${active.length} releases: ${active.slice(0, 2).map(one).join(', ')}${active.length > 2 ? ', ...' : ''}`;
}

export interface AppStateStoreOptions {
  /** The controller's own cluster (not impersonated): Apps and their status are its to write. */
  readonly cluster: Cluster;
  readonly namespace: string;
  readonly name: string;
  /** Who the App's objects are read and written as (for the status). */
  readonly serviceAccount: string;
  /** The replica (and its shard) that reconciles the App, when the controller runs sharded. */
  readonly heldBy?: () => { replica: string; shard: number };
  /**
   * Files outside the app path a commit's render read (engine/source/affects), kept in the status
   * so that a replica that does not hold the App can tell whether a push touches it.
   */
  readonly dependencies?: (commit: string) => readonly string[] | undefined;
}

export class AppStateStore implements StateStore {
  readonly applySetId: string;
  readonly namespace: string;
  /** The App as last read (generation, previous conditions). */
  private last?: AppObject;

  constructor(private readonly o: AppStateStoreOptions) {
    this.applySetId = appApplySetId(o.namespace, o.name);
    this.namespace = o.namespace;
  }

  describe(): string {
    return `App ${this.o.namespace}/${this.o.name}`;
  }

  async read(): Promise<ParentState> {
    this.last = await this.o.cluster.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: this.o.namespace, name: this.o.name }) as AppObject | undefined;
    return stateOfApp(this.last);
  }

  async write(s: { groupKinds: string[]; namespaces: string[]; data: ConfigMapData }): Promise<void> {
    const st = s.data.status;
    const health = st?.objects.length ? worstHealth(st.objects.map((x) => x.health)) : 'Unknown';
    const now = new Date().toISOString();
    const errors = st?.errors ?? [];
    const last = s.data.history[0];
    // After a restart the render's inputs are not known until the next synth: what the status
    // said of the same commit stands.
    const files = st?.appliedCommit ? this.o.dependencies?.(st.appliedCommit) : undefined;
    const previousDependencies = this.last?.status?.dependencies;
    const dependencies = files && st?.appliedCommit ? { commit: st.appliedCommit, files: [...files] }
      : previousDependencies && previousDependencies.commit === st?.appliedCommit ? previousDependencies : undefined;
    const status: AppStatus = {
      ...(this.last?.metadata.generation !== undefined ? { observedGeneration: this.last.metadata.generation } : {}),
      conditions: conditionsFor({
        sync: st?.sync ?? 'OutOfSync', health, message: st?.message ?? '', errors, generation: this.last?.metadata.generation, now, previous: this.last?.status?.conditions,
        heldBack: st?.heldBack?.length ?? 0,
      }),
      ...(st?.appliedCommit ? { appliedCommit: st.appliedCommit, commit: st.appliedCommit.slice(0, 12) } : {}),
      ...(st?.attemptedCommit ? { attemptedCommit: st.attemptedCommit } : {}),
      ...(st?.ref ? { ref: st.ref } : {}),
      ...(st?.defaultBranch ? { defaultBranch: true } : {}),
      sync: st?.sync ?? 'OutOfSync',
      health,
      serviceAccount: this.o.serviceAccount,
      ...(this.o.heldBy ? { heldBy: this.o.heldBy() } : {}),
      message: st?.message ?? '',
      lastReconcile: {
        time: st?.time ?? now, ...(st?.attemptedCommit ? { commit: st.attemptedCommit } : {}),
        result: st?.sync === 'Failed' ? 'Failed' : last?.result ?? 'Succeeded', durationMs: last?.durationMs ?? 0, message: st?.message ?? '',
        ...(last ? { changes: last.changes } : {}),
        ...(errors.length ? { errors: errors.map(errorOf) } : {}),
      },
      ...(st?.warnings?.length ? { warnings: st.warnings.map(errorOf) } : {}),
      inventory: {
        size: Object.keys(s.data.inventory).length,
        groupKinds: [...new Set(s.groupKinds)].sort(),
        namespaces: [...new Set(s.namespaces)].filter((n) => n !== this.o.namespace).sort(),
        entries: Object.entries(s.data.inventory).sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, e]) => ({
          id, v: e.apiVersion, hash: e.hash, ...(e.generation !== undefined ? { generation: e.generation } : {}), ...(e.resourceVersion !== undefined ? { resourceVersion: e.resourceVersion } : {}),
        })),
      },
      objects: (st?.objects ?? []).map((x) => ({ ...x })),
      history: s.data.history.map((h) => ({
        commit: h.commit, time: h.time, durationMs: Math.round(h.durationMs), result: h.result, message: h.message, changes: h.changes,
        ...(h.drift?.length ? { drift: h.drift.map((d) => ({ id: d.id, fields: [...d.fields], managers: [...d.managers] })) } : {}),
        ...(h.historyRewritten ? { historyRewritten: true } : {}),
        ...(h.notWritten?.length ? { notWritten: h.notWritten.map((n) => ({ ...n })) } : {}),
      })),
      ...(dependencies ? { dependencies } : {}),
      ...(st?.heldBack?.length ? { heldBack: st.heldBack.map((h) => ({ ...h })) } : {}),
    };
    const written = await this.o.cluster.applyStatus({
      apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: this.o.name, namespace: this.o.namespace }, status,
    }, { fieldManager: STATUS_MANAGER, force: true });
    this.last = written as AppObject;
  }
}

/**
 * Writes what the controller says of an App outside a reconcile (suspended, an invalid spec, no
 * ServiceAccount, being deleted): the conditions and message, over the status as it is, with
 * the same field manager as the store (so that the next reconcile's write replaces it).
 */
export async function writeAppCondition(cluster: Cluster, app: AppObject, o: {
  sync: string; message: string; errors?: readonly Diagnostic[]; stalled?: boolean;
}): Promise<AppObject> {
  // The releases and the fleet have field managers of their own.
  const { releases: _r, release: _s, fleet: _f, ...current } = app.status ?? {};
  const now = new Date().toISOString();
  const errors = (o.errors ?? []).map(errorOf);
  const conditions = conditionsFor({
    sync: o.sync, health: current.health ?? 'Unknown', message: o.message, errors: o.stalled ? errors.map((e) => ({ rule: e.rule.startsWith('app/') ? e.rule : `app/${e.rule}` })) : errors,
    generation: app.metadata.generation, now, previous: current.conditions,
  });
  const status: AppStatus = {
    ...current, conditions, sync: o.sync, message: o.message,
    ...(app.metadata.generation !== undefined ? { observedGeneration: app.metadata.generation } : {}),
    ...(errors.length ? { lastReconcile: { time: now, result: 'Failed', durationMs: 0, message: o.message, errors, ...(current.lastReconcile?.commit ? { commit: current.lastReconcile.commit } : {}) } } : {}),
  };
  return await cluster.applyStatus({ apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: app.metadata.name, namespace: app.metadata.namespace }, status }, { fieldManager: STATUS_MANAGER, force: true }) as AppObject;
}

/**
 * The replica that holds the App now, over the status as it is (same field manager as the store):
 * after a hand-over, an App whose reconcile wrote nothing (in sync, or a commit already known to be
 * invalid) must not go on naming the replica that died.
 */
export async function writeAppHolder(cluster: Cluster, app: AppObject, heldBy: { replica: string; shard: number }): Promise<void> {
  // The releases and the fleet have field managers of their own.
  const { releases: _r, release: _s, fleet: _f, ...current } = app.status ?? {};
  await cluster.applyStatus({ apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: app.metadata.name, namespace: app.metadata.namespace }, status: { ...current, heldBy } }, { fieldManager: STATUS_MANAGER, force: true });
}

/** The releases in progress, as the release controller last evaluated them (their own field manager). */
export async function writeAppReleases(cluster: Cluster, app: { namespace: string; name: string }, releases: ReleaseStatus[]): Promise<void> {
  await cluster.applyStatus({
    apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: app.name, namespace: app.namespace },
    status: { releases, release: releaseSummary(releases) },
  }, { fieldManager: RELEASES_MANAGER, force: true });
}

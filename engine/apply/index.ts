/**
 * apply: carries out a plan with server-side apply, all-or-nothing where the API allows it, in
 * the order engine/plan's applyOrder gives (the one place that order is defined):
 *   1. dry-run every change that can be dry-run now, stage 0 (CRDs, Namespaces, cluster RBAC)
 *      included; Kruise's webhooks run on dry-runs too. If one fails, nothing is written;
 *   2. objects whose dry-run needs a definition this plan creates (their Namespace, the CRD of
 *      their kind): those definitions are written and waited for, then the objects are dry-run;
 *      if one fails, the definitions this reconcile created are deleted again;
 *   3. apply stage by stage, dependencies first, a few requests in flight; a write that fails
 *      (a quota the objects exceed together, a webhook that changed its mind) stops the stages
 *      after it, and the outcome names what was written and what was not, with the API's reason;
 *   4. prune members that left git.
 *
 * Drift: a field we own that someone changed by hand (an Update by kubectl, k9s, a dashboard)
 * no longer belongs to us, so re-applying it conflicts; such conflicts are drift and are
 * corrected with force. A conflict with any other manager (a controller, another GitOps tool) is
 * never forced unless the user asks: it is reported naming that manager.
 */
import type { Diagnostic } from '../../dsl/diagnostics.js';
import { ApiError, ConflictError, ForbiddenError } from '../cluster/errors.js';
import { type Cluster, describeKey, type KubeObject, keyOf } from '../cluster/types.js';
import type { Clock } from '../clock.js';
import { applyOrder, type PlannedObject, POD_INJECTOR_KINDS, type PruneCandidate } from '../plan/index.js';
import type { DriftRecord, Inventory } from '../state.js';
import { FIELD_MANAGER } from './applyset.js';

export interface ApplyOptions {
  readonly cluster: Cluster;
  readonly clock: Clock;
  /** Force every conflict (--force-conflicts). @default false */
  readonly forceConflicts?: boolean;
  /** Managers whose edits are hand edits (drift), matched as prefixes. */
  readonly driftManagers?: readonly string[];
  /** Requests in flight. @default 8 */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (message: string) => void;
  /** How long to wait for kruise-manager to observe written SidecarSets and WorkloadSpreads. @default 15 s */
  readonly injectorTimeoutMs?: number;
  /** How long to wait for CRDs and namespaces of stage 0. @default 60 s */
  readonly stageTimeoutMs?: number;
  /** Runs right before an object's write (after every dry-run passed): releases write their hold here. */
  readonly beforeWrite?: (p: PlannedObject) => Promise<void>;
}

export const DEFAULT_DRIFT_MANAGERS = ['kubectl', 'k9s', 'Mozilla', 'dashboard', 'headlamp', 'Lens', 'OpenLens', 'kgitops-manual'];

export interface ApplyOutcome {
  /** Live objects after our writes (or as read, for unchanged ones), by id. */
  readonly objects: Map<string, KubeObject>;
  readonly inventory: Inventory;
  readonly created: string[];
  readonly updated: string[];
  readonly unchanged: string[];
  readonly drift: DriftRecord[];
  readonly pruned: string[];
  readonly pruneSkipped: { id: string; reason: string }[];
  readonly errors: Diagnostic[];
  /** Ids written in this apply (created or updated), in the order written. */
  readonly written: string[];
  /** Changes that were not written, each with why (the API's reason, or an earlier failure). */
  readonly notWritten: { readonly id: string; readonly reason: string }[];
  /** Definitions created for a later dry-run that failed, and deleted again. */
  readonly rolledBack: string[];
  /** True when a dry-run failed and nothing of this apply remains written. */
  readonly aborted: boolean;
  readonly interrupted: boolean;
  /** Number of requests that wrote (not dry-runs, not reads). */
  readonly writes: number;
}

interface Decision {
  readonly planned: PlannedObject;
  /** What to do after the dry-run. */
  write: 'none' | 'apply' | 'force';
  drift?: DriftRecord;
  /** The dry-run result (for unchanged verify objects: the live object). */
  result?: KubeObject;
}

/**
 * The manager the apiserver names for fields of an object whose managedFields were emptied:
 * Kruise's DaemonSet controller writes its DaemonSets back without them within seconds of every
 * apply (seen on kruise-manager v1.9), so everything we applied ends up owned by it. Nobody applied
 * those fields since, so taking them back overrides no one and is not drift.
 */
const OWNERLESS_MANAGER = 'before-first-apply';

function isHumanManager(manager: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => manager === p || manager.startsWith(p));
}

function errorDiagnostic(p: PlannedObject | { desired: PlannedObject['desired'] }, e: unknown, rule: string): Diagnostic {
  const m = p.desired.manifest;
  const err = e as ApiError;
  return {
    severity: 'error', rule,
    message: err instanceof ApiError ? err.message : String((e as Error)?.message ?? e),
    // Under a tenant's identity a refused write is usually an object the app should not declare.
    ...(err instanceof ForbiddenError
      ? { hint: `remove it from git if this app should not manage it (${err.user ? `user "${err.user}"` : 'the app\'s identity'} may not ${err.deniedVerb} it); otherwise ${err.hint}` }
      : err instanceof ApiError && err.hint ? { hint: err.hint } : {}),
    object: { apiVersion: m.apiVersion, kind: m.kind, name: m.metadata.name, namespace: m.metadata.namespace },
    ...(p.desired.constructPath ? { constructPath: p.desired.constructPath } : {}),
    ...(p.desired.source ? { source: p.desired.source } : {}),
  };
}

/**
 * Strips what changes on every read, to compare a dry-run result with the live object, and the
 * fields another of our managers owns. (Kruise's CloneSet webhook re-encodes every write and drops
 * a `paused: false` that a release wrote: git's dry-run then "differs" from the live object in a
 * field git never set, and re-applying it fought the release on every reconcile.)
 */
function comparable(o: KubeObject, ownedElsewhere: readonly (readonly string[])[] = []): unknown {
  const { managedFields: _m, resourceVersion: _r, generation: _g, ...metadata } = o.metadata;
  const { status: _s, ...rest } = o;
  const out = ownedElsewhere.length ? structuredClone({ ...rest, metadata }) : { ...rest, metadata };
  for (const path of ownedElsewhere) {
    let parent: Record<string, unknown> | undefined = out as Record<string, unknown>;
    for (const k of path.slice(0, -1)) parent = parent?.[k] as Record<string, unknown> | undefined;
    if (parent && typeof parent === 'object') delete parent[path[path.length - 1]!];
  }
  return out;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortDeep(a)) === JSON.stringify(sortDeep(b));
}

function sortDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortDeep);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortDeep((v as Record<string, unknown>)[k])]));
  return v;
}

/** Paths (up to 5) where two JSON values differ, e.g. `.spec.replicas`. */
function differingPaths(a: unknown, b: unknown, path = '', out: string[] = []): string[] {
  if (out.length >= 5) return out;
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) differingPaths((a as any)[k], (b as any)[k], `${path}.${k}`, out);
  } else if (!sameJson(a, b)) {
    out.push(path || '.');
  }
  return out;
}

async function pool<T>(items: T[], limit: number, signal: AbortSignal | undefined, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !signal?.aborted) {
      const item = items[next++];
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function applyPlan(planned: PlannedObject[], prune: PruneCandidate[], o: ApplyOptions): Promise<ApplyOutcome> {
  const { cluster } = o;
  const concurrency = o.concurrency ?? 8;
  const driftManagers = o.driftManagers ?? DEFAULT_DRIFT_MANAGERS;
  const objects = new Map<string, KubeObject>();
  const inventory: Inventory = {};
  const out = {
    created: [] as string[], updated: [] as string[], unchanged: [] as string[], drift: [] as DriftRecord[],
    pruned: [] as string[], pruneSkipped: [] as { id: string; reason: string }[], errors: [] as Diagnostic[], writes: 0,
    written: [] as string[], notWritten: [] as { id: string; reason: string }[], rolledBack: [] as string[],
  };
  const record = (p: PlannedObject, live: KubeObject) => {
    objects.set(p.desired.id, live);
    inventory[p.desired.id] = {
      apiVersion: p.desired.manifest.apiVersion, hash: p.desired.hash,
      ...(live.metadata.generation !== undefined ? { generation: live.metadata.generation } : { resourceVersion: live.metadata.resourceVersion }),
    };
  };
  for (const p of planned) if (p.action === 'skip' && p.live) record(p, p.live);
  const changes = planned.filter((p) => p.action !== 'skip');
  const decisions = new Map<string, Decision>();
  const finish = (aborted: boolean, interrupted = false): ApplyOutcome => {
    if (!aborted && !interrupted && out.errors.length) {
      // A failed write: name every change that is not in the cluster as git has it.
      const failed = new Map(out.notWritten.map((n) => [n.id, n.reason]));
      for (const p of changes) {
        const id = p.desired.id;
        if (out.written.includes(id) || failed.has(id) || decisions.get(id)?.write === 'none') continue;
        out.notWritten.push({ id, reason: 'not attempted: an earlier write failed' });
      }
    }
    return { objects, inventory, ...out, aborted, interrupted };
  };

  /** Dry-runs the changes; decides apply, force (drift) or nothing; collects errors. */
  const dryRun = async (batch: PlannedObject[]): Promise<void> => {
    await pool(batch, concurrency, o.signal, async (p) => {
      const d: Decision = { planned: p, write: 'apply' };
      try {
        d.result = await cluster.apply(p.desired.manifest, { fieldManager: FIELD_MANAGER, dryRun: true });
        if (p.action === 'verify' && p.live) {
          const elsewhere = p.desired.ownedElsewhere ?? [];
          if (sameJson(comparable(d.result, elsewhere), comparable(p.live, elsewhere))) {
            d.write = 'none';
          } else {
            d.drift = { id: p.desired.id, fields: differingPaths(comparable(p.live, elsewhere), comparable(d.result, elsewhere)), managers: [] };
          }
        }
      } catch (e) {
        if (e instanceof ConflictError && e.conflicts.length > 0) {
          const owned = e.conflicts.filter((c) => c.manager !== OWNERLESS_MANAGER);
          const managers = [...new Set(owned.map((c) => c.manager))];
          const human = managers.every((m) => isHumanManager(m, driftManagers));
          if (o.forceConflicts || human) {
            d.write = 'force';
            if (human && owned.length) d.drift = { id: p.desired.id, fields: owned.map((c) => c.field), managers };
          } else {
            out.errors.push(errorDiagnostic(p, e, 'apply/conflict'));
            return;
          }
        } else {
          out.errors.push(errorDiagnostic(p, e, ruleOf(e)));
          return;
        }
      }
      decisions.set(p.desired.id, d);
    });
  };

  /** Writes the decided changes (cdk8s dependencies first); stops starting writes after a failure. */
  const write = async (batch: PlannedObject[]): Promise<void> => {
    const todo: Decision[] = [];
    for (const p of batch) {
      const d = decisions.get(p.desired.id)!;
      if (d.write === 'none') {
        out.unchanged.push(p.desired.id);
        record(p, p.live!);
      } else {
        todo.push(d);
      }
    }
    const written = new Map<string, { promise: Promise<void>; resolve: () => void }>();
    for (const d of todo) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => { resolve = r; });
      written.set(d.planned.desired.id, { promise, resolve });
    }
    let failed = false;
    await pool(todo, concurrency, o.signal, async (d) => {
      const p = d.planned;
      try {
        await Promise.all((p.desired.dependsOn ?? []).map((id) => written.get(id)?.promise));
        // Not started after a failed write: what remains is reported as not written.
        if (failed) return;
        await o.beforeWrite?.(p);
        const live = await cluster.apply(p.desired.manifest, { fieldManager: FIELD_MANAGER, force: d.write === 'force' });
        out.writes++;
        record(p, live);
        out.written.push(p.desired.id);
        if (d.drift) out.drift.push(d.drift);
        (p.action === 'create' ? out.created : out.updated).push(p.desired.id);
        o.onProgress?.(`${p.action === 'create' ? 'created' : d.drift ? 'corrected drift in' : 'updated'} ${describeKey(keyOf(p.desired.manifest))}`);
      } catch (e) {
        failed = true;
        out.errors.push(errorDiagnostic(p, e, ruleOf(e)));
        out.notWritten.push({ id: p.desired.id, reason: e instanceof Error ? e.message : String(e) });
      } finally {
        written.get(p.desired.id)!.resolve();
      }
    });
  };

  /** Deletes again what this apply created, newest first (a failed dry-run after the definitions). */
  const rollBack = async (): Promise<void> => {
    for (const id of [...out.created].reverse()) {
      const live = objects.get(id)!;
      try {
        await cluster.delete(keyOf(live), { uid: live.metadata.uid });
        out.writes++;
        out.rolledBack.push(id);
        objects.delete(id);
        delete inventory[id];
        o.onProgress?.(`deleted ${describeKey(keyOf(live))} again: a dry-run that needed it failed`);
      } catch (e) {
        out.errors.push({ ...errorDiagnostic({ desired: { manifest: live, id, hash: '' } }, e, 'apply/rollback'),
          message: `could not delete ${describeKey(keyOf(live))} again after the failed dry-run: ${(e as Error).message}`,
          hint: 'delete it by hand, or fix the commit: the next reconcile applies it again' });
      }
    }
    const kept = new Set(out.rolledBack);
    for (const list of [out.created, out.written]) list.splice(0, list.length, ...list.filter((id) => !kept.has(id)));
  };

  for (const step of applyOrder(planned, prune)) {
    if (o.signal?.aborted) return finish(false, true);
    switch (step.kind) {
      case 'dry-run':
        await dryRun(step.objects);
        if (out.errors.length) return finish(true);
        break;
      case 'define':
        await write(step.objects);
        if (!out.errors.length) await waitReady(cluster, o, step.objects).catch((e) => { out.errors.push(errorDiagnostic(step.objects[0], e, 'apply/not-ready')); });
        if (out.errors.length) {
          await rollBack();
          return finish(out.written.length === 0);
        }
        break;
      case 'dry-run-dependent':
        await dryRun(step.objects);
        if (out.errors.length) {
          await rollBack();
          return finish(out.written.length === 0);
        }
        break;
      case 'write':
        await write(step.objects);
        if (out.errors.length) return finish(false);
        if (step.stage === 0) await waitReady(cluster, o, step.objects.filter((p) => decisions.get(p.desired.id)?.write !== 'none'));
        if (step.stage === 1) await waitObserved(cluster, o, step.objects.filter((p) => out.written.includes(p.desired.id) && POD_INJECTOR_KINDS.has(p.desired.manifest.kind)));
        break;
      case 'prune':
        // Prune last, in reverse stage order (workloads before their namespace).
        for (const c of [...step.candidates].sort((a, b) => stageOfKind(b.live.kind) - stageOfKind(a.live.kind))) {
          if (!c.allowed) {
            out.pruneSkipped.push({ id: c.id, reason: 'annotation kgitops.io/prune: disabled' });
            continue;
          }
          try {
            await cluster.delete(keyOf(c.live), { uid: c.live.metadata.uid });
            out.writes++;
            out.pruned.push(c.id);
            o.onProgress?.(`pruned ${describeKey(keyOf(c.live))}`);
          } catch (e) {
            out.errors.push(errorDiagnostic({ desired: { manifest: c.live, id: c.id, hash: '' } }, e, 'prune/error'));
          }
        }
        break;
    }
  }
  if (o.signal?.aborted) return finish(false, true);
  return finish(false);
}

/** `apply/<reason>` for API errors (apply/quotaexceeded, apply/forbidden, ...). */
function ruleOf(e: unknown): string {
  return e instanceof ApiError ? `apply/${e.reason.toLowerCase()}` : 'apply/error';
}

function stageOfKind(kind: string): number {
  return kind === 'CustomResourceDefinition' || kind === 'Namespace' ? 0 : 2;
}

/**
 * Waits, briefly, until kruise-manager has observed the SidecarSets and WorkloadSpreads just
 * written (status.observedGeneration): its pod webhook reads the same cache, and a pod created
 * before would miss its sidecar for good (Kruise injects at creation only). A cluster without
 * kruise-manager never reports it: after `injectorTimeoutMs` the apply goes on, and says so.
 */
async function waitObserved(cluster: Cluster, o: ApplyOptions, written: PlannedObject[]): Promise<void> {
  const deadline = o.clock.now() + (o.injectorTimeoutMs ?? 15_000);
  for (const p of written) {
    for (;;) {
      const live = await cluster.get(keyOf(p.desired.manifest)).catch(() => undefined);
      if (!live || (live.status?.observedGeneration ?? 0) >= (live.metadata.generation ?? 1)) break;
      if (o.clock.now() > deadline) {
        o.onProgress?.(`${describeKey(keyOf(p.desired.manifest))} not yet observed by kruise-manager after ${Math.round((o.injectorTimeoutMs ?? 15_000) / 1000)} s; pods created now may miss what it injects`);
        return;
      }
      await o.clock.sleep(200, o.signal);
    }
  }
}

/**
 * Waits until written CRDs are established and served (discovery lists every served version)
 * and namespaces active: what comes after them is dry-run or written against them.
 */
async function waitReady(cluster: Cluster, o: ApplyOptions, written: PlannedObject[]): Promise<void> {
  const deadline = o.clock.now() + (o.stageTimeoutMs ?? 60_000);
  for (const p of written) {
    const m = p.desired.manifest;
    if (m.kind !== 'CustomResourceDefinition' && m.kind !== 'Namespace') continue;
    for (;;) {
      const live = await cluster.get(keyOf(m));
      let ready = m.kind === 'Namespace'
        ? live?.status?.phase === 'Active' || (!!live && !live.status)
        : (live?.status?.conditions ?? []).some((c: any) => c.type === 'Established' && c.status === 'True');
      if (ready && m.kind === 'CustomResourceDefinition') {
        const versions = ((live?.spec?.versions ?? []) as { name: string; served?: boolean }[]).filter((v) => v.served !== false);
        const served = await Promise.all(versions.map((v) => cluster.resource(`${live!.spec.group}/${v.name}`, live!.spec.names.kind).then(() => true, () => false)));
        ready = served.every(Boolean);
      }
      if (ready) break;
      if (o.clock.now() > deadline) throw new Error(`${describeKey(keyOf(m))} did not become ready in ${Math.round((o.stageTimeoutMs ?? 60_000) / 1000)} s`);
      await o.clock.sleep(250, o.signal);
    }
  }
}

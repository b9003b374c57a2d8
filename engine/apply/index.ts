/**
 * apply: carries out a plan with server-side apply, staged and all-or-nothing where the API
 * allows it:
 *   1. stage 0 (CRDs, Namespaces, cluster RBAC): dry-run, apply, wait until established/active;
 *   2. every other change: dry-run first (Kruise's webhooks run on dry-runs too); if any
 *      dry-run fails, nothing of it is written;
 *   3. apply stage by stage, dependencies first, a few requests in flight;
 *   4. prune members that left git.
 *
 * Drift: a field we own that someone changed by hand (an Update by kubectl, k9s, a dashboard)
 * no longer belongs to us, so re-applying it conflicts; such conflicts are drift and are
 * corrected with force. A conflict with any other manager (a controller, another GitOps tool) is
 * never forced unless the user asks: it is reported naming that manager.
 */
import type { Diagnostic } from '../../dsl/diagnostics.js';
import { ApiError, ConflictError } from '../cluster/errors.js';
import { type Cluster, describeKey, type KubeObject, keyOf } from '../cluster/types.js';
import type { Clock } from '../clock.js';
import type { PlannedObject, PruneCandidate } from '../plan/index.js';
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
  /** True when nothing but stage 0 may have been written because a dry-run failed. */
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

function isHumanManager(manager: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => manager === p || manager.startsWith(p));
}

function errorDiagnostic(p: PlannedObject | { desired: PlannedObject['desired'] }, e: unknown, rule: string): Diagnostic {
  const m = p.desired.manifest;
  const err = e as ApiError;
  return {
    severity: 'error', rule,
    message: err instanceof ApiError ? err.message : String((e as Error)?.message ?? e),
    ...(err instanceof ApiError && err.hint ? { hint: err.hint } : {}),
    object: { apiVersion: m.apiVersion, kind: m.kind, name: m.metadata.name, namespace: m.metadata.namespace },
    ...(p.desired.constructPath ? { constructPath: p.desired.constructPath } : {}),
    ...(p.desired.source ? { source: p.desired.source } : {}),
  };
}

/** Strips what changes on every read, to compare a dry-run result with the live object. */
function comparable(o: KubeObject): unknown {
  const { managedFields: _m, resourceVersion: _r, generation: _g, ...metadata } = o.metadata;
  const { status: _s, ...rest } = o;
  return { ...rest, metadata };
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
  };
  const record = (p: PlannedObject, live: KubeObject) => {
    objects.set(p.desired.id, live);
    inventory[p.desired.id] = {
      apiVersion: p.desired.manifest.apiVersion, hash: p.desired.hash,
      ...(live.metadata.generation !== undefined ? { generation: live.metadata.generation } : { resourceVersion: live.metadata.resourceVersion }),
    };
  };
  for (const p of planned) if (p.action === 'skip' && p.live) record(p, p.live);
  const finish = (aborted: boolean, interrupted = false): ApplyOutcome => ({ objects, inventory, ...out, aborted, interrupted });

  /** Dry-runs the changes; decides apply, force (drift) or nothing; collects errors. */
  const dryRun = async (batch: PlannedObject[]): Promise<Decision[]> => {
    const decisions: Decision[] = [];
    await pool(batch, concurrency, o.signal, async (p) => {
      const d: Decision = { planned: p, write: 'apply' };
      try {
        d.result = await cluster.apply(p.desired.manifest, { fieldManager: FIELD_MANAGER, dryRun: true });
        if (p.action === 'verify' && p.live) {
          if (sameJson(comparable(d.result), comparable(p.live))) {
            d.write = 'none';
          } else {
            d.drift = { id: p.desired.id, fields: differingPaths(comparable(p.live), comparable(d.result)), managers: [] };
          }
        }
      } catch (e) {
        if (e instanceof ConflictError && e.conflicts.length > 0) {
          const managers = [...new Set(e.conflicts.map((c) => c.manager))];
          const human = managers.every((m) => isHumanManager(m, driftManagers));
          if (o.forceConflicts || human) {
            d.write = 'force';
            if (human) d.drift = { id: p.desired.id, fields: e.conflicts.map((c) => c.field), managers };
          } else {
            out.errors.push(errorDiagnostic(p, e, 'apply/conflict'));
            return;
          }
        } else {
          out.errors.push(errorDiagnostic(p, e, e instanceof ApiError ? `apply/${e.reason.toLowerCase()}` : 'apply/error'));
          return;
        }
      }
      decisions.push(d);
    });
    return decisions;
  };

  const write = async (decisions: Decision[]): Promise<void> => {
    for (const d of decisions.filter((x) => x.write === 'none')) {
      out.unchanged.push(d.planned.desired.id);
      record(d.planned, d.planned.live!);
    }
    const todo = decisions.filter((x) => x.write !== 'none');
    // cdk8s dependencies: an object waits for the writes of the objects it depends on.
    const written = new Map<string, { promise: Promise<void>; resolve: () => void }>();
    for (const d of todo) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => { resolve = r; });
      written.set(d.planned.desired.id, { promise, resolve });
    }
    await pool(todo, concurrency, o.signal, async (d) => {
      const p = d.planned;
      await Promise.all((p.desired.dependsOn ?? []).map((id) => written.get(id)?.promise));
      try {
        await o.beforeWrite?.(p);
        const live = await cluster.apply(p.desired.manifest, { fieldManager: FIELD_MANAGER, force: d.write === 'force' });
        out.writes++;
        record(p, live);
        if (d.drift) out.drift.push(d.drift);
        (p.action === 'create' ? out.created : out.updated).push(p.desired.id);
        o.onProgress?.(`${p.action === 'create' ? 'created' : d.drift ? 'corrected drift in' : 'updated'} ${describeKey(keyOf(p.desired.manifest))}`);
      } catch (e) {
        out.errors.push(errorDiagnostic(p, e, e instanceof ApiError ? `apply/${e.reason.toLowerCase()}` : 'apply/error'));
      } finally {
        written.get(p.desired.id)!.resolve();
      }
    });
  };

  const changes = planned.filter((p) => p.action !== 'skip');
  // Stage 0 first: later dry-runs need its namespaces and CRDs to exist.
  const stage0 = changes.filter((p) => p.stage === 0);
  if (stage0.length) {
    const decisions = await dryRun(stage0);
    if (out.errors.length) return finish(true);
    await write(decisions);
    if (out.errors.length) return finish(true);
    await waitEstablished(cluster, o, decisions.filter((d) => d.write !== 'none').map((d) => d.planned));
    if (out.errors.length) return finish(true);
  }
  if (o.signal?.aborted) return finish(false, true);
  const rest = changes.filter((p) => p.stage > 0);
  const decisions = await dryRun(rest);
  if (out.errors.length) return finish(true);
  for (const stage of [...new Set(rest.map((p) => p.stage))].sort()) {
    if (o.signal?.aborted) return finish(false, true);
    await write(decisions.filter((d) => d.planned.stage === stage));
  }
  if (out.errors.length) return finish(false);
  if (o.signal?.aborted) return finish(false, true);

  // Prune last, in reverse stage order (workloads before their namespace).
  const candidates = [...prune].sort((a, b) => stageOfKind(b.live.kind) - stageOfKind(a.live.kind));
  for (const c of candidates) {
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
  return finish(false);
}

function stageOfKind(kind: string): number {
  return kind === 'CustomResourceDefinition' || kind === 'Namespace' ? 0 : 2;
}

/** Waits until applied CRDs are established and namespaces active. */
async function waitEstablished(cluster: Cluster, o: ApplyOptions, applied: PlannedObject[]): Promise<void> {
  const deadline = o.clock.now() + (o.stageTimeoutMs ?? 60_000);
  for (const p of applied) {
    const kind = p.desired.manifest.kind;
    if (kind !== 'CustomResourceDefinition' && kind !== 'Namespace') continue;
    for (;;) {
      const live = await cluster.get(keyOf(p.desired.manifest));
      const ready = kind === 'Namespace'
        ? live?.status?.phase === 'Active' || (live && !live.status)
        : (live?.status?.conditions ?? []).some((c: any) => c.type === 'Established' && c.status === 'True');
      if (ready) break;
      if (o.clock.now() > deadline) throw new Error(`${describeKey(keyOf(p.desired.manifest))} did not become ready in time`);
      await o.clock.sleep(250, o.signal);
    }
  }
}

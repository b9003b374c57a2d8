/**
 * What the engine remembers between reconciles. It lives in the cluster (on the ApplySet parent
 * ConfigMap), never only in memory: a restarted engine reads it and carries on.
 */
import type { Diagnostic } from '../dsl/diagnostics.js';
import type { HealthStatus } from './health/index.js';

/** Per member: what we last wrote, for the no-op fast path. Keyed by objectId(). */
export type Inventory = Record<string, InventoryEntry>;

export interface InventoryEntry {
  readonly apiVersion: string;
  /** Desired hash we applied. */
  readonly hash: string;
  /** metadata.generation right after our write (kinds with a spec and a status subresource). */
  readonly generation?: number;
  /** metadata.resourceVersion right after our write (kinds without a generation). */
  readonly resourceVersion?: string;
}

export type SyncState = 'Synced' | 'OutOfSync' | 'Failed' | 'Progressing';

export interface ObjectStatus {
  readonly id: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
  readonly health: HealthStatus;
  readonly message: string;
}

export interface StatusSnapshot {
  readonly app: string;
  /** Commit the cluster runs (last good). */
  readonly appliedCommit?: string;
  /** Commit of the last attempt (may be a failed one). */
  readonly attemptedCommit?: string;
  /**
   * The ref the attempted commit was resolved through (refs/heads/master, refs/tags/v1), or the
   * configured ref when that is a commit SHA. With defaultBranch: no ref was configured, and this
   * is the remote's default branch (its HEAD) as it was then.
   */
  readonly ref?: string;
  readonly defaultBranch?: true;
  readonly sync: SyncState;
  readonly message: string;
  readonly time: string;
  readonly objects: ObjectStatus[];
  /** Errors of the last attempt (synth, validation, API). */
  readonly errors?: Diagnostic[];
  /** Warnings of the last attempt that decide what happens (approvals.yaml entries that do not count). */
  readonly warnings?: Diagnostic[];
  /**
   * Workloads that do not run git's template because their release of it was aborted: they keep
   * the template of before until a new commit. While there are any, the app is OutOfSync.
   */
  readonly heldBack?: HeldBackWorkload[];
}

/** A workload kept on its previous template after an aborted release (see StatusSnapshot.heldBack). */
export interface HeldBackWorkload {
  /** objectId() of the workload. */
  readonly id: string;
  /** `CloneSet shop/web`. */
  readonly workload: string;
  /** The aborted release. */
  readonly release: string;
  /** The template revision git declares, which the cluster does not run. */
  readonly declaredRevision: string;
  /** The template revision the cluster runs (from before the release). */
  readonly runningRevision: string;
  /** Why it was aborted (the pause reason: a command, a failed gate). */
  readonly reason?: string;
}

/** What one held-back workload runs instead of git's template, and why. */
export function describeHeldBack(h: HeldBackWorkload): string {
  return `${h.workload} runs revision ${h.runningRevision}, not git's ${h.declaredRevision}: release ${h.release} was aborted${h.reason ? ` (${h.reason})` : ''}`;
}

/** What to do about a held-back workload. */
export const HELD_BACK_FIX = 'push a new commit (a fix, or a revert to the running version) to release again';

/** One line for the app's message: which workloads are held back, and what to do. */
export function heldBackMessage(held: readonly HeldBackWorkload[]): string {
  if (!held.length) return '';
  const first = held[0]!;
  const which = held.length === 1
    ? describeHeldBack(first)
    : `${held.length} workloads run their previous template, not git's, after aborted releases (${held.slice(0, 3).map((h) => h.workload).join(', ')}${held.length > 3 ? ', ...' : ''})`;
  return `${which}; ${HELD_BACK_FIX}`;
}

export interface ChangeCounts {
  readonly created: number;
  readonly updated: number;
  readonly pruned: number;
  readonly unchanged: number;
  readonly driftCorrected: number;
}

export interface DriftRecord {
  readonly id: string;
  /** Fields that differed, e.g. `.spec.replicas`; empty when only a diff was seen. */
  readonly fields: string[];
  /** Field managers that had changed them, e.g. `kubectl-edit`. */
  readonly managers: string[];
}

export interface HistoryEntry {
  readonly commit: string;
  readonly time: string;
  readonly durationMs: number;
  readonly result: 'Succeeded' | 'Failed' | 'Interrupted';
  readonly message: string;
  readonly changes: ChangeCounts;
  readonly drift?: DriftRecord[];
  /** Set when the new commit is not a descendant of the previous one (force-push). */
  readonly historyRewritten?: boolean;
  /** Damaged engine state this reconcile found and repaired (what, and how it was rebuilt). */
  readonly repairs?: StateProblem[];
  /** Objects whose write failed after every dry-run had passed, with the API's reason. */
  readonly notWritten?: { readonly id: string; readonly reason: string }[];
}

/**
 * Something wrong with the state the engine keeps on its ApplySet parent (a hand edit, a
 * hostile one, a bug): which key, what is wrong with it, and how it is fixed.
 */
export interface StateProblem {
  /** The ConfigMap key or annotation, e.g. `inventory.json`. */
  readonly key: string;
  readonly message: string;
  /** What the engine does about it, and what a person can do. */
  readonly fix: string;
}

/** The app an ApplySet parent belongs to: the canonical repo (no credentials) and the app's path in it. */
export interface AppSource {
  readonly repo: string;
  readonly path: string;
}

export interface ConfigMapData {
  readonly inventory: Inventory;
  readonly status: StatusSnapshot | undefined;
  readonly history: HistoryEntry[];
}

export const HISTORY_LIMIT = 10;

export function pushHistory(history: HistoryEntry[], entry: HistoryEntry): HistoryEntry[] {
  return [entry, ...history].slice(0, HISTORY_LIMIT);
}

/**
 * Where an app's state lives, and the ApplySet parent its members are labelled with: the
 * parent ConfigMap of `kgitops sync` (engine/apply/applyset.ts ConfigMapStateStore), or the App
 * resource's status under the controller (engine/controller/app-state.ts). The reconciler reads it
 * once per reconcile and writes it when something changed.
 */
export interface StateStore {
  /** The id members carry in applyset.kubernetes.io/part-of. */
  readonly applySetId: string;
  /** The parent's namespace: members there are found without being recorded as additional namespaces. */
  readonly namespace: string;
  /** For messages: `ConfigMap shop/kgitops-shop`, `App team-a/shop`. */
  describe(): string;
  /** Throws on an API error; a parent that does not exist reads as `exists: false`. */
  read(): Promise<import('./apply/applyset.js').ParentState>;
  write(state: { readonly groupKinds: string[]; readonly namespaces: string[]; readonly data: ConfigMapData }): Promise<void>;
}

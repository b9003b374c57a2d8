/**
 * The simulated etcd: objects keyed by group/kind/namespace/name, one global resourceVersion
 * counter, an event history that watches resume from, and an index of owner references for
 * garbage collection. Stored objects are never mutated in place: each write stores a new object,
 * so history entries can share them and every read hands out a copy.
 */
import { groupKind } from '../types.js';
import type { KubeObject, WatchEvent, WatchEventType } from '../types.js';
import type { FieldEntry } from './ssa.js';
import { matchesRequirements, type Requirement } from './selector.js';

export interface Stored {
  readonly id: string;
  /** `CloneSet.apps.kruise.io` */
  readonly gk: string;
  readonly obj: KubeObject;
  readonly entries: readonly FieldEntry[];
}

export interface StoreChange {
  readonly type: WatchEventType;
  readonly obj: KubeObject;
  readonly old?: KubeObject;
}

interface HistoryEntry {
  readonly rv: number;
  readonly type: WatchEventType;
  readonly gk: string;
  readonly obj: KubeObject;
  readonly old?: KubeObject;
}

export interface WatchFilter {
  readonly gk: string;
  readonly apiVersion: string;
  readonly namespace?: string;
  readonly selector: readonly Requirement[];
}

export interface Watcher {
  readonly filter: WatchFilter;
  deliver(e: WatchEvent): void;
}

export const idOf = (gk: string, namespace: string | undefined, name: string): string => `${gk}/${namespace ?? ''}/${name}`;
export const gkOf = (apiVersion: string, kind: string): string => groupKind(apiVersion, kind);

export class Store {
  private readonly objects = new Map<string, Stored>();
  private readonly byKind = new Map<string, Map<string, Stored>>();
  private readonly byUid = new Map<string, string>();
  private readonly dependentsOf = new Map<string, Set<string>>();
  private history: HistoryEntry[] = [];
  /** Oldest resourceVersion a watch can resume after. */
  private horizon = 0;
  private rv = 0;
  readonly watchers = new Set<Watcher>();
  readonly listeners: ((c: StoreChange) => void)[] = [];

  constructor(private readonly historyLimit = 10_000) {}

  get resourceVersion(): string {
    return String(this.rv);
  }

  nextResourceVersion(): string {
    return String(++this.rv);
  }

  get(id: string): Stored | undefined {
    return this.objects.get(id);
  }

  byUidGet(uid: string): Stored | undefined {
    const id = this.byUid.get(uid);
    return id ? this.objects.get(id) : undefined;
  }

  list(gk: string, namespace?: string): Stored[] {
    const all = [...(this.byKind.get(gk)?.values() ?? [])];
    const out = namespace === undefined ? all : all.filter((s) => s.obj.metadata.namespace === namespace);
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  kinds(): string[] {
    return [...this.byKind.keys()];
  }

  /** Objects whose ownerReferences name this uid. */
  dependents(uid: string): Stored[] {
    return [...(this.dependentsOf.get(uid) ?? [])].map((id) => this.objects.get(id)).filter((s): s is Stored => !!s);
  }

  /** Stores a new version; `obj.metadata.resourceVersion` must already be the next version. */
  put(s: Stored): void {
    const old = this.objects.get(s.id);
    if (old) this.unindex(old);
    this.objects.set(s.id, s);
    let kindMap = this.byKind.get(s.gk);
    if (!kindMap) this.byKind.set(s.gk, (kindMap = new Map()));
    kindMap.set(s.id, s);
    if (s.obj.metadata.uid) this.byUid.set(s.obj.metadata.uid, s.id);
    for (const ref of s.obj.metadata.ownerReferences ?? []) {
      let set = this.dependentsOf.get(ref.uid);
      if (!set) this.dependentsOf.set(ref.uid, (set = new Set()));
      set.add(s.id);
    }
    this.record(old ? 'MODIFIED' : 'ADDED', s.gk, s.obj, old?.obj);
  }

  /** Removes an object; the DELETED event carries a new resourceVersion, as etcd's does. */
  remove(id: string): Stored | undefined {
    const s = this.objects.get(id);
    if (!s) return undefined;
    this.unindex(s);
    this.objects.delete(id);
    this.byKind.get(s.gk)?.delete(id);
    const obj = { ...s.obj, metadata: { ...s.obj.metadata, resourceVersion: this.nextResourceVersion() } };
    this.record('DELETED', s.gk, obj, s.obj);
    return s;
  }

  private unindex(s: Stored): void {
    if (s.obj.metadata.uid) this.byUid.delete(s.obj.metadata.uid);
    for (const ref of s.obj.metadata.ownerReferences ?? []) this.dependentsOf.get(ref.uid)?.delete(s.id);
  }

  private record(type: WatchEventType, gk: string, obj: KubeObject, old?: KubeObject): void {
    const entry: HistoryEntry = { rv: Number(obj.metadata.resourceVersion), type, gk, obj, ...(old ? { old } : {}) };
    this.history.push(entry);
    if (this.history.length > this.historyLimit) {
      const drop = this.history.length - this.historyLimit;
      this.horizon = this.history[drop - 1]!.rv;
      this.history = this.history.slice(drop);
    }
    for (const w of this.watchers) {
      const e = eventFor(w.filter, entry);
      if (e) w.deliver(e);
    }
    for (const l of this.listeners) l({ type, obj, ...(old ? { old } : {}) });
  }

  /** Forgets the event history: a watch resuming from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.horizon = this.rv;
    this.history = [];
  }

  /** Events after `rv` for a filter, or undefined when `rv` is older than the history kept. */
  since(rv: number, filter: WatchFilter): WatchEvent[] | undefined {
    if (rv < this.horizon) return undefined;
    const out: WatchEvent[] = [];
    for (const h of this.history) {
      if (h.rv <= rv) continue;
      const e = eventFor(filter, h);
      if (e) out.push(e);
    }
    return out;
  }
}

function matches(f: WatchFilter, obj: KubeObject | undefined): boolean {
  if (!obj) return false;
  if (f.namespace !== undefined && obj.metadata.namespace !== f.namespace) return false;
  return matchesRequirements(f.selector, obj.metadata.labels);
}

/**
 * The event a watcher sees for a change. With a label selector, an object that starts matching
 * is ADDED and one that stops matching is DELETED, as the apiserver's watch cache does.
 */
function eventFor(f: WatchFilter, h: HistoryEntry): WatchEvent | undefined {
  if (h.gk !== f.gk) return undefined;
  const now = h.type !== 'DELETED' && matches(f, h.obj);
  const before = h.type === 'MODIFIED' ? matches(f, h.old) : h.type === 'DELETED' && matches(f, h.old);
  let type: WatchEventType | undefined;
  if (h.type === 'ADDED') type = now ? 'ADDED' : undefined;
  else if (h.type === 'DELETED') type = before ? 'DELETED' : undefined;
  else type = now && before ? 'MODIFIED' : now ? 'ADDED' : before ? 'DELETED' : undefined;
  if (!type) return undefined;
  return { type, object: { ...h.obj, apiVersion: f.apiVersion } };
}

/**
 * Field ownership: server-side apply and Update operations on the part of an object a write can
 * change, with one entry per (manager, operation, subresource) as the apiserver keeps them.
 *
 * Apply: the applied configuration is merged into the live object. A field in it that another
 * entry owns with a different value is a conflict (unless force, which moves the ownership). The
 * applier's set becomes exactly the applied fields; fields it applied before and no longer
 * applies are removed unless someone else owns them. Equal values are owned jointly.
 * Update (kubectl edit, controllers): the object is replaced; every field whose value changed
 * moves to the updater, so the next non-forced apply of another value by the previous owner
 * conflicts with it. That is how the engine notices hand edits.
 */
import type { ManagedFieldsEntry } from '../types.js';
import {
  clone, deepEqual, deleteAt, describePath, hasAncestorIn, isEmptyContainer, isPlainObject, keyOf, leaves,
  mergeApplied, pathOf, prefixesOf, toFieldsV1, valueAt,
} from './fields.js';

export type Subresource = '' | 'status';

export interface FieldEntry {
  readonly manager: string;
  readonly operation: 'Apply' | 'Update';
  readonly subresource: Subresource;
  apiVersion: string;
  time: string;
  fields: Set<string>;
}

export interface FieldConflict {
  readonly field: string;
  readonly manager: string;
}

const same = (e: FieldEntry, manager: string, operation: string, sub: Subresource) =>
  e.manager === manager && e.operation === operation && e.subresource === sub;

/** Metadata fields that belong to the writer; everything else in metadata is the server's. */
const TRACKED_METADATA = ['labels', 'annotations', 'finalizers', 'ownerReferences'];

/**
 * The part of an object a write to the main resource or to `status` may change, and that field
 * ownership tracks: the main resource ignores status and the server's metadata; the status
 * subresource ignores everything but status.
 */
export function trackedPart(obj: Record<string, any> | undefined, sub: Subresource): Record<string, unknown> {
  if (!obj) return {};
  if (sub === 'status') return obj.status === undefined ? {} : { status: clone(obj.status) };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'apiVersion' || k === 'kind' || k === 'metadata' || k === 'status' || v === undefined) continue;
    out[k] = clone(v);
  }
  const md: Record<string, unknown> = {};
  for (const k of TRACKED_METADATA) if (obj.metadata?.[k] !== undefined) md[k] = clone(obj.metadata[k]);
  if (Object.keys(md).length) out.metadata = md;
  return out;
}

function leafEqual(a: unknown, b: unknown, k: string): boolean {
  const path = pathOf(k);
  const va = valueAt(a, path);
  const vb = valueAt(b, path);
  if (path[path.length - 1] === '.') return va.found === vb.found;
  return va.found === vb.found && deepEqual(va.value, vb.value);
}

/** Drops owned paths that no longer exist (in `root`, the tracked part of subresource `sub`). */
function existing(entries: FieldEntry[], root: unknown, sub: Subresource): FieldEntry[] {
  for (const e of entries) {
    if (e.subresource !== sub) continue;
    for (const k of [...e.fields]) if (!valueAt(root, pathOf(k)).found) e.fields.delete(k);
  }
  return entries.filter((e) => e.fields.size > 0);
}

function cloneEntries(entries: readonly FieldEntry[]): FieldEntry[] {
  return entries.map((e) => ({ ...e, fields: new Set(e.fields) }));
}

export interface ApplyResult {
  /** The tracked part after the apply. */
  readonly tracked: Record<string, unknown>;
  readonly entries: FieldEntry[];
  /** Non-empty when the apply conflicts (and was not forced); nothing else is then valid. */
  readonly conflicts: FieldConflict[];
}

export function applyFields(o: {
  live: Record<string, unknown>;
  applied: Record<string, unknown>;
  entries: readonly FieldEntry[];
  manager: string;
  subresource: Subresource;
  force: boolean;
  apiVersion: string;
  time: string;
}): ApplyResult {
  const A = leaves(o.applied);
  const aPrefixes = prefixesOf(A);
  const merged0 = mergeApplied(o.live, o.applied) as Record<string, unknown>;
  const entries = cloneEntries(o.entries);
  const own = (e: FieldEntry) => same(e, o.manager, 'Apply', o.subresource);

  // Conflicts: a field another entry owns, that this apply touches and would change.
  const conflicts: FieldConflict[] = [];
  const taken = new Map<FieldEntry, string[]>();
  for (const e of entries) {
    if (own(e)) continue;
    for (const q of e.fields) {
      // A field this apply sets, or one inside a field it replaces. An owned map that only
      // gains children is no conflict (the apiserver compares leaves), unless it stops being a map.
      const touched = A.has(q) || hasAncestorIn(q, A)
        || (aPrefixes.has(q) && !isPlainObject(valueAt(o.live, pathOf(q)).value));
      if (!touched || leafEqual(merged0, o.live, q)) continue;
      conflicts.push({ field: describePath(pathOf(q)), manager: e.manager });
      taken.set(e, [...(taken.get(e) ?? []), q]);
    }
  }
  conflicts.sort((a, b) => (a.field < b.field ? -1 : a.field > b.field ? 1 : a.manager < b.manager ? -1 : 1));
  if (conflicts.length && !o.force) return { tracked: o.live, entries: [...o.entries], conflicts };
  for (const [e, qs] of taken) for (const q of qs) e.fields.delete(q);

  // Remove what this manager applied before and no longer applies, unless someone else owns it.
  const prev = entries.find(own)?.fields ?? new Set<string>();
  const others = new Set<string>();
  for (const e of entries) if (!own(e)) for (const q of e.fields) others.add(q);
  const othersPrefixes = prefixesOf(others);
  const owned = new Set([...others, ...A]);
  const gone = [...prev].filter((k) => !A.has(k)).sort((a, b) => pathOf(b).length - pathOf(a).length);
  for (const k of gone) {
    if (others.has(k) || aPrefixes.has(k)) continue;
    const path = pathOf(k);
    const target = path[path.length - 1] === '.' ? path.slice(0, -1) : path;
    if (othersPrefixes.has(keyOf(target))) continue;
    if (!deleteAt(merged0, path)) continue;
    pruneEmptyAncestors(merged0, target, owned, aPrefixes);
  }

  const next = entries.filter((e) => !own(e));
  next.push({ manager: o.manager, operation: 'Apply', subresource: o.subresource, apiVersion: o.apiVersion, time: o.time, fields: A });
  return { tracked: merged0, entries: existing(next, merged0, o.subresource), conflicts: [] };
}

/** Removes containers left empty by a removal, unless someone owns them as such. */
function pruneEmptyAncestors(root: unknown, path: readonly string[], owned: ReadonlySet<string>, keep: ReadonlySet<string>): void {
  for (let i = path.length - 1; i >= 1; i--) {
    const anc = path.slice(0, i);
    if (!anc[anc.length - 1]!.startsWith('f:')) return;
    const k = keyOf(anc);
    if (owned.has(k) || keep.has(k)) return;
    const v = valueAt(root, anc);
    if (!v.found || !isEmptyContainer(v.value)) return;
    deleteAt(root, anc);
  }
}

/** An Update: `next` replaces the tracked part; changed fields move to the updater. */
export function updateFields(o: {
  live: Record<string, unknown>;
  next: Record<string, unknown>;
  entries: readonly FieldEntry[];
  manager: string;
  subresource: Subresource;
  apiVersion: string;
  time: string;
}): FieldEntry[] {
  const before = leaves(o.live);
  const changed: string[] = [];
  for (const k of leaves(o.next)) if (!before.has(k) || !leafEqual(o.next, o.live, k)) changed.push(k);
  const entries = cloneEntries(o.entries);
  if (changed.length) {
    let mine = entries.find((e) => same(e, o.manager, 'Update', o.subresource));
    if (!mine) {
      mine = { manager: o.manager, operation: 'Update', subresource: o.subresource, apiVersion: o.apiVersion, time: o.time, fields: new Set() };
      entries.push(mine);
    }
    for (const e of entries) if (e !== mine) for (const k of changed) e.fields.delete(k);
    for (const k of changed) mine.fields.add(k);
    mine.time = o.time;
    mine.apiVersion = o.apiVersion;
  }
  return existing(entries, o.next, o.subresource);
}

/** managedFields as the apiserver shows them (FieldsV1). */
export function renderManagedFields(entries: readonly FieldEntry[]): ManagedFieldsEntry[] {
  return entries.map((e) => ({
    manager: e.manager,
    operation: e.operation,
    apiVersion: e.apiVersion,
    time: e.time,
    fieldsType: 'FieldsV1',
    fieldsV1: toFieldsV1(e.fields),
    ...(e.subresource ? { subresource: e.subresource } : {}),
  }));
}

export function sameEntries(a: readonly FieldEntry[], b: readonly FieldEntry[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((e) => {
    const f = b.find((x) => same(x, e.manager, e.operation, e.subresource));
    return !!f && f.fields.size === e.fields.size && [...e.fields].every((k) => f.fields.has(k));
  });
}

/** Rebuilds a full object from its tracked part (main resource) and the live object. */
export function withTracked(live: Record<string, any> | undefined, tracked: Record<string, unknown>, base: { apiVersion: string; kind: string; metadata: Record<string, unknown> }): Record<string, any> {
  const md: Record<string, unknown> = { ...base.metadata };
  for (const k of TRACKED_METADATA) delete md[k];
  const tmd = isPlainObject(tracked.metadata) ? tracked.metadata : {};
  const out: Record<string, any> = { apiVersion: base.apiVersion, kind: base.kind, metadata: { ...md, ...tmd } };
  for (const [k, v] of Object.entries(tracked)) if (k !== 'metadata') out[k] = v;
  if (live?.status !== undefined) out.status = live.status;
  return out;
}

/**
 * Field paths for server-side apply, in the apiserver's own FieldsV1 vocabulary, so that the
 * managedFields SimCluster shows read exactly like a real cluster's:
 *
 *   'f:<name>'            a field of an object (struct field or map key alike)
 *   'k:{"name":"web"}'    an item of a list whose items all are objects with a string `name`
 *   '.'                   the list item itself (its existence), always next to a 'k:' segment
 *
 * A path is an array of such segments; a field set is a Set of paths joined with SEP. Leaves
 * are scalars, atomic lists (any list that is not keyed by name) and empty objects. The real
 * apiserver knows each type's list keys from its schema (containerPort+protocol for ports,
 * type for conditions, ...); the simulation keys every list of named objects by name and
 * treats every other list as atomic, which is right for the fields the engine cares about.
 */

export type Path = readonly string[];

/** Joins segments into a set key. NUL cannot occur in Kubernetes names or field names. */
export const SEP = '\u0000';

export const keyOf = (p: Path): string => p.join(SEP);
export const pathOf = (k: string): string[] => (k === '' ? [] : k.split(SEP));

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A list merged item by item: every element an object with a string `name`, each name once. A
 * list with a name twice cannot be a map keyed by name (the apiserver refuses duplicate keys), so
 * it is atomic, as the real apiserver treats such a list of a CRD (an App's status.objects
 * holds a Service and a CloneSet both called storefront).
 */
export function isKeyedList(v: unknown): v is Record<string, unknown>[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((e) => isPlainObject(e) && typeof e.name === 'string')) return false;
  return new Set(v.map((e) => (e as { name: string }).name)).size === v.length;
}

const itemSegment = (name: string): string => `k:${JSON.stringify({ name })}`;

function itemName(seg: string): string {
  return (JSON.parse(seg.slice(2)) as { name: string }).name;
}

/** Every leaf path of `value` (plus '.' markers of keyed list items), added to `out`. */
export function leaves(value: unknown, out: Set<string> = new Set(), prefix: string[] = []): Set<string> {
  if (isPlainObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0 && prefix.length) out.add(keyOf(prefix));
    for (const k of keys) {
      if (value[k] === undefined) continue;
      prefix.push(`f:${k}`);
      leaves(value[k], out, prefix);
      prefix.pop();
    }
  } else if (isKeyedList(value)) {
    for (const item of value) {
      prefix.push(itemSegment(item.name as string));
      prefix.push('.');
      out.add(keyOf(prefix));
      prefix.pop();
      leaves(item, out, prefix);
      prefix.pop();
    }
  } else if (prefix.length) {
    out.add(keyOf(prefix));
  }
  return out;
}

export interface Found {
  readonly found: boolean;
  readonly value?: unknown;
}

/** The value at a path; a '.' marker yields the list item itself. */
export function valueAt(root: unknown, path: Path): Found {
  let cur: unknown = root;
  for (const seg of path) {
    if (seg === '.') continue;
    if (seg.startsWith('f:')) {
      if (!isPlainObject(cur)) return { found: false };
      const k = seg.slice(2);
      if (!Object.prototype.hasOwnProperty.call(cur, k) || cur[k] === undefined) return { found: false };
      cur = cur[k];
    } else {
      if (!Array.isArray(cur)) return { found: false };
      const name = itemName(seg);
      const item = cur.find((e) => isPlainObject(e) && e.name === name);
      if (item === undefined) return { found: false };
      cur = item;
    }
  }
  return { found: true, value: cur };
}

/** Removes the field (or the list item, for a '.' path). Returns whether anything was removed. */
export function deleteAt(root: unknown, path: Path): boolean {
  const p = path[path.length - 1] === '.' ? path.slice(0, -1) : path;
  if (!p.length) return false;
  const parent = valueAt(root, p.slice(0, -1));
  if (!parent.found) return false;
  const last = p[p.length - 1]!;
  if (last.startsWith('f:')) {
    if (!isPlainObject(parent.value)) return false;
    const k = last.slice(2);
    if (!(k in parent.value)) return false;
    delete parent.value[k];
    return true;
  }
  if (!Array.isArray(parent.value)) return false;
  const name = itemName(last);
  const i = parent.value.findIndex((e) => isPlainObject(e) && e.name === name);
  if (i < 0) return false;
  parent.value.splice(i, 1);
  return true;
}

/** True for an empty object or an empty list. */
export function isEmptyContainer(v: unknown): boolean {
  return (Array.isArray(v) && v.length === 0) || (isPlainObject(v) && Object.keys(v).length === 0);
}

/** `.spec.template.spec.containers[name="web"].image`, as the apiserver prints conflicts. */
export function describePath(path: Path): string {
  let s = '';
  for (const seg of path) {
    if (seg === '.') continue;
    if (seg.startsWith('f:')) s += `.${seg.slice(2)}`;
    else s += `[name=${JSON.stringify(itemName(seg))}]`;
  }
  return s || '.';
}

/** A field set as a FieldsV1 tree: `{"f:spec": {"f:replicas": {}}}`. */
export function toFieldsV1(set: Iterable<string>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const k of set) {
    let node = root;
    for (const seg of pathOf(k)) {
      node = (node[seg] ??= {}) as Record<string, unknown>;
    }
  }
  return sortTree(root);
}

function sortTree(node: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // '.' first, then fields, then keyed items, as the apiserver serializes them.
  const rank = (s: string) => (s === '.' ? 0 : s.startsWith('f:') ? 1 : 2);
  for (const k of Object.keys(node).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0))) {
    out[k] = sortTree(node[k] as Record<string, unknown>);
  }
  return out;
}

/** Every proper prefix of every path in `set`, as set keys. */
export function prefixesOf(set: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const k of set) {
    const p = pathOf(k);
    for (let i = 1; i < p.length; i++) out.add(keyOf(p.slice(0, i)));
  }
  return out;
}

/** Whether a proper prefix of `k` is in `set`. */
export function hasAncestorIn(k: string, set: ReadonlySet<string>): boolean {
  const p = pathOf(k);
  for (let i = 1; i < p.length; i++) if (set.has(keyOf(p.slice(0, i)))) return true;
  return false;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (isPlainObject(a)) {
    if (!isPlainObject(b)) return false;
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    if (ka.length !== kb.length) return false;
    for (const k of ka) if (!deepEqual(a[k], b[k])) return false;
    return true;
  }
  return false;
}

export function clone<T>(v: T): T {
  return v === undefined ? v : structuredClone(v);
}

/**
 * Merges an applied configuration into a live value the way SSA does: objects field by field,
 * named lists item by item (live order kept, new items appended), everything else replaced.
 */
export function mergeApplied(live: unknown, applied: unknown): unknown {
  if (isPlainObject(applied)) {
    const out: Record<string, unknown> = isPlainObject(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(applied)) {
      if (v === undefined) continue;
      out[k] = mergeApplied(out[k], v);
    }
    return out;
  }
  if (isKeyedList(applied) && (isKeyedList(live) || (Array.isArray(live) && live.length === 0))) {
    const out = (live as Record<string, unknown>[]).slice();
    for (const item of applied) {
      const i = out.findIndex((e) => e.name === item.name);
      if (i >= 0) out[i] = mergeApplied(out[i], item) as Record<string, unknown>;
      else out.push(clone(item));
    }
    return out;
  }
  return clone(applied);
}

/**
 * Field-level differences between two versions of a manifest: what a reviewer reads in a pull
 * request. Lists of named items (containers, env, volumes, ports, subsets) are matched by
 * name, so a reordered or inserted container is one change, not a cascade of them.
 */
import { joinPath } from '../../dsl/diagnostics.js';

export type FieldOp = 'add' | 'remove' | 'change';

export interface FieldChange {
  /** JSON path; named list items appear as `containers[name=web]`. */
  readonly path: string;
  readonly op: FieldOp;
  readonly before?: unknown;
  readonly after?: unknown;
}

export function fieldChanges(before: unknown, after: unknown, path = ''): FieldChange[] {
  const out: FieldChange[] = [];
  walk(before, after, path, out);
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function namedItems(a: unknown[]): Map<string, unknown> | undefined {
  if (a.length === 0) return new Map();
  const m = new Map<string, unknown>();
  for (const x of a) {
    if (!isObject(x) || typeof x.name !== 'string' || m.has(x.name)) return undefined;
    m.set(x.name, x);
  }
  return m;
}

function walk(a: unknown, b: unknown, path: string, out: FieldChange[]): void {
  if (a === b) return;
  if (a === undefined) { out.push({ path, op: 'add', after: b }); return; }
  if (b === undefined) { out.push({ path, op: 'remove', before: a }); return; }
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const k of keys) walk(a[k], b[k], joinPath(path, k), out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const na = namedItems(a);
    const nb = namedItems(b);
    if (na && nb && (na.size > 0 || nb.size > 0)) {
      for (const [name, x] of na) walk(x, nb.get(name), `${path}[name=${name}]`, out);
      for (const [name, y] of nb) if (!na.has(name)) out.push({ path: `${path}[name=${name}]`, op: 'add', after: y });
      const orderA = [...na.keys()].filter((n) => nb.has(n));
      const orderB = [...nb.keys()].filter((n) => na.has(n));
      if (orderA.join('\0') !== orderB.join('\0')) out.push({ path, op: 'change', before: [...na.keys()], after: [...nb.keys()] });
      return;
    }
    for (let i = 0; i < Math.max(a.length, b.length); i++) walk(a[i], b[i], joinPath(path, i), out);
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ path, op: 'change', before: a, after: b });
}

/** Shortens a value for a one-line summary. */
export function brief(v: unknown, max = 80): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

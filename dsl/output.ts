/**
 * Deterministic manifest output: the same objects always give byte-identical YAML, so that
 * synthesized files diff cleanly in pull requests (sorted keys, no timestamps, no anchors).
 */
import { stringify } from 'yaml';

const TOP_LEVEL_ORDER = ['apiVersion', 'kind', 'metadata', 'spec'];

function compareTopLevel(a: string, b: string): number {
  const ia = TOP_LEVEL_ORDER.indexOf(a);
  const ib = TOP_LEVEL_ORDER.indexOf(b);
  if (ia !== -1 || ib !== -1) return (ia === -1 ? 99 : ia) - (ib === -1 ? 99 : ib);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A deep copy with object keys sorted (apiVersion, kind, metadata, spec first at the top), undefined dropped. */
export function canonicalize(value: unknown, top = true): unknown {
  if (Array.isArray(value)) return value.map((v) => canonicalize(v, false));
  if (value === null || typeof value !== 'object') return value;
  const keys = Object.keys(value as object).filter((k) => (value as Record<string, unknown>)[k] !== undefined);
  keys.sort(top ? compareTopLevel : undefined);
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = canonicalize((value as Record<string, unknown>)[k], false);
  return out;
}

/** Multi-document YAML of already-ordered objects. */
export function toYaml(objects: readonly unknown[]): string {
  return objects
    .map((o) => stringify(canonicalize(o), { lineWidth: 0, aliasDuplicateObjects: false }))
    .join('---\n');
}

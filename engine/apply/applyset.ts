/**
 * Ownership through Kubernetes ApplySets (KEP-3659): one parent ConfigMap per app, members
 * labelled `applyset.kubernetes.io/part-of: <id>`. Prune deletes only labelled members that
 * left git, so objects of other tools (or of another app) are never touched.
 *
 * The parent also holds the engine's own state, so that a restarted engine knows where it
 * stands: the inventory (per member: desired hash, generation and resourceVersion after our
 * last write, for the no-op fast path), the last status, and the last 10 reconciles.
 */
import { createHash } from 'node:crypto';
import type { ConfigMapData, HistoryEntry, Inventory, StatusSnapshot } from '../state.js';
import { groupKind, type KubeObject } from '../cluster/types.js';

export const LABEL_PART_OF = 'applyset.kubernetes.io/part-of';
export const LABEL_ID = 'applyset.kubernetes.io/id';
export const ANNOTATION_TOOLING = 'applyset.kubernetes.io/tooling';
export const ANNOTATION_GROUP_KINDS = 'applyset.kubernetes.io/contains-group-kinds';
export const ANNOTATION_NAMESPACES = 'applyset.kubernetes.io/additional-namespaces';
/** Hash of the desired manifest we last applied to a member. */
export const ANNOTATION_DESIRED_HASH = 'kgitops.io/desired-hash';
/** `disabled` on a live object: never prune it. */
export const ANNOTATION_PRUNE = 'kgitops.io/prune';
export const TOOLING = 'kgitops/v0.1.0';
export const FIELD_MANAGER = 'kgitops';

export interface ApplySetParentRef {
  readonly name: string;
  readonly namespace: string;
}

/** The ApplySet id of a ConfigMap parent: applyset-<base64url(sha256(name.namespace.ConfigMap.))>-v1 */
export function applySetId(parent: ApplySetParentRef): string {
  const digest = createHash('sha256').update(`${parent.name}.${parent.namespace}.ConfigMap.`).digest('base64url');
  return `applyset-${digest}-v1`;
}

export function parentName(app: string): string {
  return `kgitops-${app}`;
}

/** Stable JSON: keys sorted at every level. */
export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v as object).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export function manifestHash(m: unknown): string {
  return createHash('sha256').update(stableStringify(m)).digest('hex').slice(0, 32);
}

/**
 * Turns a synthesized manifest into what we apply: the namespace filled in for namespaced kinds,
 * the ApplySet label, and the hash of everything else as an annotation (so "unchanged in git"
 * is one string compare against the live object).
 */
export function prepareDesired(manifest: KubeObject, o: { id: string; namespaced: boolean; defaultNamespace: string }): KubeObject {
  const m = structuredClone(manifest);
  m.metadata = { ...m.metadata };
  if (o.namespaced) m.metadata.namespace ??= o.defaultNamespace;
  else delete m.metadata.namespace;
  m.metadata.labels = { ...m.metadata.labels, [LABEL_PART_OF]: o.id };
  const hash = manifestHash(m);
  m.metadata.annotations = { ...m.metadata.annotations, [ANNOTATION_DESIRED_HASH]: hash };
  return m;
}

/** The parent ConfigMap as we apply it. */
export function parentManifest(ref: ApplySetParentRef, o: {
  groupKinds: string[]; namespaces: string[]; data: ConfigMapData;
}): KubeObject {
  const extra = [...new Set(o.namespaces)].filter((n) => n && n !== ref.namespace).sort();
  return {
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: {
      name: ref.name, namespace: ref.namespace,
      labels: { [LABEL_ID]: applySetId(ref), 'app.kubernetes.io/managed-by': 'kgitops' },
      annotations: {
        [ANNOTATION_TOOLING]: TOOLING,
        [ANNOTATION_GROUP_KINDS]: [...new Set(o.groupKinds)].sort().join(','),
        ...(extra.length ? { [ANNOTATION_NAMESPACES]: extra.join(',') } : {}),
      },
    },
    data: {
      'inventory.json': JSON.stringify(o.data.inventory),
      'status.json': JSON.stringify(o.data.status),
      'history.json': JSON.stringify(o.data.history),
    },
  };
}

/** Reads the state the engine keeps on its parent; tolerant of a missing or hand-damaged parent. */
export function readParent(parent: KubeObject | undefined): { groupKinds: string[]; namespaces: string[]; data: ConfigMapData; tooling?: string } {
  const parse = <T>(s: unknown, fallback: T): T => {
    if (typeof s !== 'string') return fallback;
    try { return JSON.parse(s) as T; } catch { return fallback; }
  };
  const a = parent?.metadata.annotations ?? {};
  return {
    tooling: a[ANNOTATION_TOOLING],
    groupKinds: (a[ANNOTATION_GROUP_KINDS] ?? '').split(',').filter(Boolean),
    namespaces: (a[ANNOTATION_NAMESPACES] ?? '').split(',').filter(Boolean),
    data: {
      inventory: parse<Inventory>(parent?.data?.['inventory.json'], {}),
      status: parse<StatusSnapshot | undefined>(parent?.data?.['status.json'], undefined),
      history: parse<HistoryEntry[]>(parent?.data?.['history.json'], []),
    },
  };
}

export function gkOf(o: { apiVersion: string; kind: string }): string {
  return groupKind(o.apiVersion, o.kind);
}

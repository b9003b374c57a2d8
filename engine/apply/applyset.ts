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
import type { AppSource, ConfigMapData, HistoryEntry, Inventory, InventoryEntry, StateProblem, StateStore, StatusSnapshot } from '../state.js';
import { type Cluster, groupKind, type KubeObject } from '../cluster/types.js';

export const LABEL_PART_OF = 'applyset.kubernetes.io/part-of';
export const LABEL_ID = 'applyset.kubernetes.io/id';
export const ANNOTATION_TOOLING = 'applyset.kubernetes.io/tooling';
export const ANNOTATION_GROUP_KINDS = 'applyset.kubernetes.io/contains-group-kinds';
export const ANNOTATION_NAMESPACES = 'applyset.kubernetes.io/additional-namespaces';
/** Hash of the desired manifest we last applied to a member. */
export const ANNOTATION_DESIRED_HASH = 'kgitops.io/desired-hash';
/** `disabled` on a live object: never prune it. */
export const ANNOTATION_PRUNE = 'kgitops.io/prune';
/**
 * `<ApplySet id>` on a live object: its owner lets that app take it over. The engine never adopts
 * an existing object that is not labelled as a member of its ApplySet without it, since a repo
 * that could adopt anything its identity may write could later prune it.
 */
export const ANNOTATION_ADOPT = 'kgitops.io/adopt';
/** The app a parent belongs to (AppSource): the canonical repo URL or path, and the app's path in it. */
export const ANNOTATION_SOURCE_REPO = 'kgitops.io/source-repo';
export const ANNOTATION_SOURCE_PATH = 'kgitops.io/source-path';
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
  groupKinds: string[]; namespaces: string[]; data: ConfigMapData; source?: AppSource;
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
        ...(o.source ? { [ANNOTATION_SOURCE_REPO]: o.source.repo, [ANNOTATION_SOURCE_PATH]: o.source.path } : {}),
      },
    },
    data: {
      'inventory.json': JSON.stringify(o.data.inventory),
      'status.json': JSON.stringify(o.data.status),
      'history.json': JSON.stringify(o.data.history),
    },
  };
}

/** The state the engine keeps on its parent, as read, with what was wrong with it. */
export interface ParentState {
  /** False when there is no parent ConfigMap (a new app, or one deleted by hand). */
  readonly exists: boolean;
  readonly groupKinds: string[];
  readonly namespaces: string[];
  /** Usable values only: a damaged key reads as empty, and is listed in `problems`. */
  readonly data: ConfigMapData;
  readonly tooling?: string;
  /** The app the parent records (absent: written by an engine before identities were recorded). */
  readonly source?: AppSource;
  /** Each damaged key: what is wrong and how it is fixed. */
  readonly problems: StateProblem[];
  /**
   * False when the parent exists but its inventory could not be read as written: the engine then
   * rebuilds it from the ApplySet labels and prunes nothing in that reconcile.
   */
  readonly inventoryReadable: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);
const SYNC_STATES = new Set(['Synced', 'OutOfSync', 'Failed', 'Progressing']);
const HISTORY_RESULTS = new Set(['Succeeded', 'Failed', 'Interrupted']);

function inventoryEntryProblem(id: string, e: unknown): string | undefined {
  if (id.split('/').length < 3) return `key ${JSON.stringify(id)} is not an object id (<group-kind>/<namespace>/<name>)`;
  if (!isObject(e)) return `${JSON.stringify(id)} is ${typeName(e)}, not an object`;
  if (typeof e.apiVersion !== 'string' || !e.apiVersion) return `${JSON.stringify(id)}.apiVersion is not a string`;
  if (typeof e.hash !== 'string') return `${JSON.stringify(id)}.hash is not a string`;
  if (e.generation !== undefined && !Number.isInteger(e.generation)) return `${JSON.stringify(id)}.generation is not an integer`;
  if (e.resourceVersion !== undefined && typeof e.resourceVersion !== 'string') return `${JSON.stringify(id)}.resourceVersion is not a string`;
  return undefined;
}

function statusProblem(v: Record<string, unknown>): string | undefined {
  if (typeof v.sync !== 'string' || !SYNC_STATES.has(v.sync)) return `.sync is ${JSON.stringify(v.sync)}, not one of ${[...SYNC_STATES].join(', ')}`;
  if (typeof v.message !== 'string') return '.message is not a string';
  for (const k of ['appliedCommit', 'attemptedCommit'] as const) {
    if (v[k] !== undefined && (typeof v[k] !== 'string' || !/^[0-9a-f]{7,64}$/.test(v[k] as string))) return `.${k} is ${JSON.stringify(v[k])}, not a commit`;
  }
  if (!Array.isArray(v.objects)) return `.objects is ${typeName(v.objects)}, not an array`;
  const bad = v.objects.findIndex((o) => !isObject(o) || typeof o.id !== 'string' || typeof o.kind !== 'string' || typeof o.name !== 'string' || typeof o.apiVersion !== 'string');
  if (bad >= 0) return `.objects[${bad}] is not an object status (id, apiVersion, kind, name)`;
  if (v.errors !== undefined && !Array.isArray(v.errors)) return `.errors is ${typeName(v.errors)}, not an array`;
  return undefined;
}

/**
 * Reads the state the engine keeps on its parent. A missing parent is a new app; a damaged key
 * (invalid JSON, a value of the wrong type: a hand edit or a hostile one) reads as empty and is
 * reported in `problems`, never thrown: the engine must keep running on a parent it can repair.
 */
export function readParent(parent: KubeObject | undefined): ParentState {
  const a = parent?.metadata.annotations ?? {};
  const data: Record<string, unknown> = isObject(parent?.data) ? parent!.data : {};
  const where = parent ? `ConfigMap ${parent.metadata.namespace ? `${parent.metadata.namespace}/` : ''}${parent.metadata.name}` : '';
  const problems: StateProblem[] = [];
  const parse = (key: string): { value?: unknown; problem?: string } => {
    const raw = data[key];
    if (raw === undefined) return {};
    if (typeof raw !== 'string') return { problem: `${typeName(raw)}, not a string` };
    try {
      return { value: JSON.parse(raw) };
    } catch (e) {
      return { problem: `not valid JSON (${(e as Error).message})` };
    }
  };

  // inventory.json: the members and what we last wrote to them.
  let inventory: Inventory = {};
  let inventoryReadable = true;
  const labels = parent ? `the live objects labelled ${LABEL_PART_OF}=${parent.metadata.labels?.[LABEL_ID] ?? '<its id>'}` : '';
  const inventoryFix = `the engine rebuilds it from ${labels} and prunes nothing in that reconcile; by hand: delete the key inventory.json (or the whole ConfigMap) and the engine rebuilds it the same way`;
  if (parent) {
    const inv = parse('inventory.json');
    if (data['inventory.json'] === undefined) {
      inventoryReadable = false;
      problems.push({ key: 'inventory.json', message: `${where} has no key inventory.json`, fix: inventoryFix });
    } else if (inv.problem) {
      inventoryReadable = false;
      problems.push({ key: 'inventory.json', message: `${where}: inventory.json is ${inv.problem}`, fix: inventoryFix });
    } else if (!isObject(inv.value)) {
      inventoryReadable = false;
      problems.push({ key: 'inventory.json', message: `${where}: inventory.json is ${typeName(inv.value)}, not an object of members`, fix: inventoryFix });
    } else {
      const bad: string[] = [];
      for (const [id, e] of Object.entries(inv.value)) {
        const p = inventoryEntryProblem(id, e);
        if (p) bad.push(p);
        else inventory[id] = e as unknown as InventoryEntry;
      }
      if (bad.length) {
        inventoryReadable = false;
        inventory = {};
        problems.push({ key: 'inventory.json', message: `${where}: inventory.json has ${bad.length} malformed entr${bad.length === 1 ? 'y' : 'ies'} (${bad.slice(0, 3).join('; ')}${bad.length > 3 ? '; ...' : ''})`, fix: inventoryFix });
      }
    }
  }

  // status.json: the last status (absent until the first reconcile records one).
  let status: StatusSnapshot | undefined;
  const st = parse('status.json');
  const statusFix = 'the engine writes a new status in this reconcile (with no applied commit on record, every object is checked with a dry-run); by hand: delete the key status.json';
  if (st.problem) problems.push({ key: 'status.json', message: `${where}: status.json is ${st.problem}`, fix: statusFix });
  else if (st.value !== undefined && st.value !== null) {
    const p = isObject(st.value) ? statusProblem(st.value) : `${typeName(st.value)}, not an object`;
    if (p) problems.push({ key: 'status.json', message: `${where}: status.json ${isObject(st.value) ? 'is invalid: ' : 'is '}${p}`, fix: statusFix });
    else status = st.value as unknown as StatusSnapshot;
  }

  // history.json: the last reconciles, newest first.
  let history: HistoryEntry[] = [];
  const h = parse('history.json');
  const newHistory = 'the engine starts a new history in this reconcile; by hand: delete the key history.json';
  const historyFix = 'the engine keeps the readable entries and drops the others in this reconcile; by hand: delete the key history.json';
  if (h.problem) problems.push({ key: 'history.json', message: `${where}: history.json is ${h.problem}`, fix: newHistory });
  else if (h.value !== undefined && h.value !== null && !Array.isArray(h.value)) {
    problems.push({ key: 'history.json', message: `${where}: history.json is ${typeName(h.value)}, not a list of reconciles`, fix: newHistory });
  } else if (Array.isArray(h.value)) {
    const ok = h.value.filter((e) => isObject(e) && typeof e.commit === 'string' && typeof e.time === 'string' && typeof e.message === 'string'
      && typeof e.result === 'string' && HISTORY_RESULTS.has(e.result) && isObject(e.changes));
    if (ok.length !== h.value.length) {
      problems.push({ key: 'history.json', message: `${where}: history.json has ${h.value.length - ok.length} malformed entr${h.value.length - ok.length === 1 ? 'y' : 'ies'} (each needs commit, time, result, message and changes)`, fix: historyFix });
    }
    history = ok as unknown as HistoryEntry[];
  }

  const repo = a[ANNOTATION_SOURCE_REPO];
  return {
    exists: !!parent,
    tooling: a[ANNOTATION_TOOLING],
    groupKinds: (a[ANNOTATION_GROUP_KINDS] ?? '').split(',').filter(Boolean),
    namespaces: (a[ANNOTATION_NAMESPACES] ?? '').split(',').filter(Boolean),
    ...(repo ? { source: { repo, path: a[ANNOTATION_SOURCE_PATH] ?? '.' } } : {}),
    data: { inventory, status, history },
    problems,
    inventoryReadable,
  };
}

export function gkOf(o: { apiVersion: string; kind: string }): string {
  return groupKind(o.apiVersion, o.kind);
}

/**
 * The state of `kgitops sync`: the app's ApplySet parent ConfigMap, written by the engine's own
 * identity. It records the app (repo and path) it belongs to; the reconciler refuses a parent
 * that records another app.
 */
export class ConfigMapStateStore implements StateStore {
  readonly applySetId: string;
  readonly namespace: string;

  constructor(private readonly cluster: Cluster, readonly ref: ApplySetParentRef, private readonly source: AppSource) {
    this.applySetId = applySetId(ref);
    this.namespace = ref.namespace;
  }

  describe(): string {
    return `ConfigMap ${this.ref.namespace}/${this.ref.name}`;
  }

  async read(): Promise<ParentState> {
    return readParent(await this.cluster.get({ apiVersion: 'v1', kind: 'ConfigMap', ...this.ref }));
  }

  async write(s: { groupKinds: string[]; namespaces: string[]; data: ConfigMapData }): Promise<void> {
    // The engine owns its parent entirely: forced, so that a repair by hand (kubectl edit makes
    // kubectl-edit the owner of what it changed) never leaves a permanent conflict.
    await this.cluster.apply(parentManifest(this.ref, { ...s, source: this.source }), { fieldManager: FIELD_MANAGER, force: true });
  }
}

/**
 * plan: desired objects against live ones. Decides per object whether to create, update,
 * verify (a possible drift) or skip, which live members to prune, and in which stage each write
 * happens. Reads only; the dry-runs that confirm changes happen in engine/apply.
 *
 * No-op fast path: an object whose desired hash equals the hash on the live object, whose
 * labels and annotations still include ours, and whose generation (or resourceVersion, for kinds
 * without one) is what our last write left, cannot have drifted in a field we own: it costs no
 * request beyond the list.
 */
import { ANNOTATION_DESIRED_HASH, ANNOTATION_PRUNE, gkOf, LABEL_PART_OF } from '../apply/applyset.js';
import { type Cluster, describeKey, type KubeObject, keyOf, objectId, type ObjectKey } from '../cluster/types.js';
import type { Inventory } from '../state.js';

export type Action = 'create' | 'update' | 'verify' | 'skip';

export interface DesiredObject {
  /** Prepared manifest (namespace, ApplySet label, hash annotation). */
  readonly manifest: KubeObject;
  readonly id: string;
  readonly hash: string;
  readonly constructPath?: string;
  readonly source?: string;
  /** Ids of desired objects that must be written before this one (cdk8s dependencies). */
  readonly dependsOn?: string[];
}

export interface PlannedObject {
  readonly desired: DesiredObject;
  readonly live?: KubeObject;
  readonly action: Action;
  /** Why, in words: "new", "changed in git", "labels changed in the cluster", ... */
  readonly reason: string;
  readonly stage: number;
  /**
   * Ids of definitions in this plan that must exist before this object can even be dry-run: the
   * Namespace it lives in, when this plan creates it, or the CRD of its kind, when this plan
   * defines a kind the cluster does not serve yet.
   */
  readonly needs?: string[];
}

export interface PruneCandidate {
  readonly live: KubeObject;
  readonly id: string;
  /** False when an annotation forbids pruning it. */
  readonly allowed: boolean;
}

export interface Plan {
  readonly objects: PlannedObject[];
  readonly prune: PruneCandidate[];
  /** Live members of the ApplySet, by id. */
  readonly members: Map<string, KubeObject>;
  /** Objects that exist but belong to another ApplySet: never adopted. */
  readonly foreign: { readonly desired: DesiredObject; readonly owner: string }[];
  /** The order in which engine/apply carries the plan out, in words (see applyOrder). */
  readonly order: string[];
}

/**
 * Apply stages: cluster definitions first and waited for (CRDs, Namespaces, cluster-scoped
 * RBAC), then classes, then everything else in synth order (which follows cdk8s dependencies).
 */
export function stageOf(kind: string): number {
  if (kind === 'CustomResourceDefinition' || kind === 'Namespace' || kind === 'ClusterRole' || kind === 'ClusterRoleBinding') return 0;
  if (/Class$/.test(kind)) return 1;
  return 2;
}

function includes(live: Record<string, string> | undefined, want: Record<string, string> | undefined): boolean {
  return Object.entries(want ?? {}).every(([k, v]) => live?.[k] === v);
}

export interface PlanInput {
  readonly cluster: Cluster;
  readonly applySetId: string;
  readonly desired: DesiredObject[];
  readonly inventory: Inventory;
  /** Group-kinds the parent says the set contains (from earlier applies). */
  readonly knownGroupKinds: string[];
  /** Namespaces the set lives in (parent's own and additional ones). */
  readonly knownNamespaces: string[];
}

export async function plan(input: PlanInput): Promise<Plan> {
  const { cluster } = input;
  const members = await listMembers(input);
  const foreign: Plan['foreign'] = [];
  const objects: PlannedObject[] = [];
  for (const d of input.desired) {
    const stage = stageOf(d.manifest.kind);
    let live = members.get(d.id);
    if (!live) {
      // Not a member: it may exist unlabelled (adopt it) or belong to another ApplySet (refuse).
      live = await cluster.get(keyOf(d.manifest)).catch(() => undefined);
      const owner = live?.metadata.labels?.[LABEL_PART_OF];
      if (live && owner && owner !== input.applySetId) {
        foreign.push({ desired: d, owner });
        continue;
      }
      objects.push({ desired: d, live, action: live ? 'update' : 'create', reason: live ? 'exists, not yet managed: adopting it' : 'new', stage });
      continue;
    }
    objects.push({ desired: d, live, stage, ...decide(d, live, input.inventory[d.id]) });
  }
  const withNeeds = await markNeeds(cluster, objects);
  const desiredIds = new Set(input.desired.map((d) => d.id));
  const prune = [...members.entries()]
    .filter(([id]) => !desiredIds.has(id))
    .map(([id, live]) => ({ id, live, allowed: live.metadata.annotations?.[ANNOTATION_PRUNE] !== 'disabled' }));
  return { objects: withNeeds, prune, members, foreign, order: describeOrder(applyOrder(withNeeds, prune)) };
}

/**
 * Which objects cannot be dry-run before this plan writes something: objects in a namespace the
 * plan creates (the apiserver rejects anything in a namespace that does not exist, dry-runs
 * too), and custom resources of a kind the plan defines and the cluster does not serve yet.
 */
async function markNeeds(cluster: Cluster, objects: PlannedObject[]): Promise<PlannedObject[]> {
  const newNamespaces = new Map<string, string>();
  for (const p of objects) if (p.desired.manifest.kind === 'Namespace' && p.action === 'create') newNamespaces.set(p.desired.manifest.metadata.name, p.desired.id);
  const crds = objects.filter((p) => p.desired.manifest.kind === 'CustomResourceDefinition' && p.action !== 'skip');
  return Promise.all(objects.map(async (p) => {
    if (p.action === 'skip') return p;
    const m = p.desired.manifest;
    const needs: string[] = [];
    const ns = m.metadata.namespace;
    if (ns && newNamespaces.has(ns)) needs.push(newNamespaces.get(ns)!);
    const crd = crds.find((c) => definesKind(c.desired.manifest, m));
    if (crd && !(await cluster.resource(m.apiVersion, m.kind).then(() => true, () => false))) needs.push(crd.desired.id);
    return needs.length ? { ...p, needs } : p;
  }));
}

/** Whether a CustomResourceDefinition defines the kind (group and kind) of an object. */
export function definesKind(crd: KubeObject, o: { apiVersion: string; kind: string }): boolean {
  if (crd.kind !== 'CustomResourceDefinition') return false;
  const slash = o.apiVersion.lastIndexOf('/');
  const group = slash === -1 ? '' : o.apiVersion.slice(0, slash);
  return crd.spec?.group === group && crd.spec?.names?.kind === o.kind;
}

/**
 * One step of carrying out a plan. engine/apply runs exactly these, in this order:
 *   dry-run      every change that can be dry-run now, stage 0 included: if one fails, nothing
 *                is written;
 *   define       the Namespaces and CRDs that later dry-runs need, written and waited for
 *                (active, established and served);
 *   dry-run      the changes that needed them; if one fails, the definitions this reconcile
 *   (dependent)  created are deleted again and nothing else is written;
 *   write        stage by stage (0 cluster definitions, 1 classes, 2 the rest), cdk8s
 *                dependencies first; a write that fails stops the stages after it;
 *   prune        members that left git, in reverse stage order.
 */
export type ApplyStep =
  | { readonly kind: 'dry-run'; readonly objects: PlannedObject[] }
  | { readonly kind: 'define'; readonly objects: PlannedObject[] }
  | { readonly kind: 'dry-run-dependent'; readonly objects: PlannedObject[] }
  | { readonly kind: 'write'; readonly stage: number; readonly objects: PlannedObject[] }
  | { readonly kind: 'prune'; readonly candidates: PruneCandidate[] };

export function applyOrder(objects: PlannedObject[], prune: PruneCandidate[]): ApplyStep[] {
  const changes = objects.filter((p) => p.action !== 'skip');
  const dependent = changes.filter((p) => p.needs?.length);
  const needed = new Set(dependent.flatMap((p) => p.needs!));
  const steps: ApplyStep[] = [];
  const now = changes.filter((p) => !p.needs?.length);
  if (now.length) steps.push({ kind: 'dry-run', objects: now });
  if (dependent.length) {
    steps.push({ kind: 'define', objects: now.filter((p) => needed.has(p.desired.id)) });
    steps.push({ kind: 'dry-run-dependent', objects: dependent });
  }
  for (const stage of [...new Set(changes.map((p) => p.stage))].sort((a, b) => a - b)) {
    steps.push({ kind: 'write', stage, objects: changes.filter((p) => p.stage === stage && !needed.has(p.desired.id)) });
  }
  if (prune.length) steps.push({ kind: 'prune', candidates: prune });
  return steps.filter((s) => s.kind === 'prune' || s.objects.length > 0);
}

const STAGE_NAMES = ['cluster definitions', 'classes', 'the rest'];

/** The steps in words, one line each, numbered: for logs, `kgitops sync -o json` and tests. */
export function describeOrder(steps: ApplyStep[]): string[] {
  const names = (ps: PlannedObject[]) => {
    const shown = ps.slice(0, 5).map((p) => describeKey(keyOf(p.desired.manifest)));
    return `${shown.join(', ')}${ps.length > 5 ? ` and ${ps.length - 5} more` : ''}`;
  };
  return steps.map((s, i) => {
    const n = `${i + 1}.`;
    switch (s.kind) {
      case 'dry-run': return `${n} dry-run ${s.objects.length} change(s) (stage 0 included); nothing is written if one fails`;
      case 'define': return `${n} write ${names(s.objects)} and wait until ready: later dry-runs need them`;
      case 'dry-run-dependent': return `${n} dry-run ${s.objects.length} change(s) that need them (${names(s.objects)}); if one fails, what step ${i} created is deleted again`;
      case 'write': return `${n} write stage ${s.stage} (${STAGE_NAMES[s.stage] ?? 'the rest'}): ${s.objects.length} object(s), dependencies first`;
      case 'prune': return `${n} prune ${s.candidates.length} member(s) that left git`;
    }
  });
}

function decide(d: DesiredObject, live: KubeObject, inv: Inventory[string] | undefined): { action: Action; reason: string } {
  if (live.metadata.annotations?.[ANNOTATION_DESIRED_HASH] !== d.hash) return { action: 'update', reason: 'changed in git' };
  if (!includes(live.metadata.labels, d.manifest.metadata.labels) || !includes(live.metadata.annotations, d.manifest.metadata.annotations)) {
    return { action: 'verify', reason: 'labels or annotations changed in the cluster' };
  }
  if (!inv || inv.hash !== d.hash) return { action: 'verify', reason: 'no record of our last write' };
  if (live.metadata.generation !== undefined) {
    return live.metadata.generation === inv.generation
      ? { action: 'skip', reason: 'unchanged' }
      : { action: 'verify', reason: `spec changed since our last write (generation ${inv.generation ?? '?'} -> ${live.metadata.generation})` };
  }
  return live.metadata.resourceVersion === inv.resourceVersion
    ? { action: 'skip', reason: 'unchanged' }
    : { action: 'verify', reason: 'changed since our last write' };
}

/** Lists every live member of the set: one labelled list per group-kind and namespace. */
async function listMembers(input: PlanInput): Promise<Map<string, KubeObject>> {
  const { cluster } = input;
  const apiVersionOf = new Map<string, string>();
  for (const d of input.desired) apiVersionOf.set(gkOf(d.manifest), d.manifest.apiVersion);
  // Kinds that left git are still known from the inventory (ids start with the group-kind).
  for (const [id, e] of Object.entries(input.inventory)) {
    const gk = id.split('/')[0];
    if (!apiVersionOf.has(gk)) apiVersionOf.set(gk, e.apiVersion);
  }
  const namespaces = new Set<string>(input.knownNamespaces);
  for (const d of input.desired) if (d.manifest.metadata.namespace) namespaces.add(d.manifest.metadata.namespace);
  const gks = new Set([...input.knownGroupKinds, ...apiVersionOf.keys()]);
  const selector = `${LABEL_PART_OF}=${input.applySetId}`;
  const members = new Map<string, KubeObject>();
  await Promise.all([...gks].map(async (gk) => {
    const apiVersion = apiVersionOf.get(gk) ?? (await resolveApiVersion(cluster, gk));
    if (!apiVersion) return;
    const kind = gk.split('.')[0];
    const info = await cluster.resource(apiVersion, kind).catch(() => undefined);
    if (!info) return; // a kind no longer served has no members to find
    const scopes = info.namespaced ? [...namespaces] : [undefined];
    await Promise.all(scopes.map(async (namespace) => {
      const { items } = await cluster.list(apiVersion, kind, { namespace, labelSelector: selector });
      for (const item of items) members.set(objectId(keyOf(item)), item);
    }));
  }));
  return members;
}

/** For a group-kind known only from the parent annotation, find a served version. */
async function resolveApiVersion(cluster: Cluster, gk: string): Promise<string | undefined> {
  const [kind, ...groupParts] = gk.split('.');
  const group = groupParts.join('.');
  const candidates = group ? [`${group}/v1`, `${group}/v1beta1`, `${group}/v1alpha1`] : ['v1'];
  for (const apiVersion of candidates) {
    if (await cluster.resource(apiVersion, kind).then(() => true, () => false)) return apiVersion;
  }
  return undefined;
}

export function isChange(p: PlannedObject): boolean {
  return p.action === 'create' || p.action === 'update';
}

export function keyOfPlanned(p: PlannedObject): ObjectKey {
  return keyOf(p.desired.manifest);
}

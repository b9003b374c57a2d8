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
import { type Cluster, type KubeObject, keyOf, objectId, type ObjectKey } from '../cluster/types.js';
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
  const desiredIds = new Set(input.desired.map((d) => d.id));
  const prune = [...members.entries()]
    .filter(([id]) => !desiredIds.has(id))
    .map(([id, live]) => ({ id, live, allowed: live.metadata.annotations?.[ANNOTATION_PRUNE] !== 'disabled' }));
  return { objects, prune, members, foreign };
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

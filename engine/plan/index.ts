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
import type { Diagnostic } from '../../dsl/diagnostics.js';
import { ANNOTATION_ADOPT, ANNOTATION_DESIRED_HASH, ANNOTATION_PRUNE, gkOf, LABEL_ID, LABEL_PART_OF } from '../apply/applyset.js';
import { type ApiError, ForbiddenError, NotServedError } from '../cluster/errors.js';
import { type Cluster, describeKey, groupOf, type KubeObject, keyOf, objectId, type ObjectKey } from '../cluster/types.js';
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
  /**
   * Fields of the live object that another of the engine's own field managers owns (a release's
   * partition and paused): left out of the comparison that decides whether git's object must be
   * written, so that they never count as drift.
   */
  readonly ownedElsewhere?: readonly (readonly string[])[];
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

/**
 * A desired object that exists and that this app may not take over:
 *   apply/not-owned    it is not labelled as a member of our ApplySet and its owner has not opted
 *                      it in (annotation kgitops.io/adopt=<our ApplySet id>);
 *   apply/state-object it is an ApplySet parent (label applyset.kubernetes.io/id), another app's
 *                      state or our own, annotation or not; `live` is absent when the commit
 *                      itself declares an object with that label.
 */
export interface UnownedObject {
  readonly desired: DesiredObject;
  readonly live?: KubeObject;
  readonly rule: 'apply/not-owned' | 'apply/state-object';
}

/**
 * A read the app's identity may not do (403): the plan cannot tell whether the object exists or
 * whose it is, so nothing is applied. Either a desired object (its GET, or the labelled list of
 * its kind in its namespace, was refused) or a scope of earlier members whose list was refused.
 */
export interface ForbiddenRead {
  readonly desired?: DesiredObject;
  readonly scope?: { readonly groupKind: string; readonly namespace?: string };
  readonly error: ApiError;
}

export interface Plan {
  readonly objects: PlannedObject[];
  readonly prune: PruneCandidate[];
  /** Live members of the ApplySet, by id. */
  readonly members: Map<string, KubeObject>;
  /** Objects that exist but belong to another ApplySet: never adopted. */
  readonly foreign: { readonly desired: DesiredObject; readonly owner: string }[];
  /** Objects that exist but are not ours to take over (see UnownedObject): never written. */
  readonly unowned: UnownedObject[];
  /** Reads refused by RBAC: with any, the plan is incomplete and must not be applied. */
  readonly forbidden: ForbiddenRead[];
  /** The order in which engine/apply carries the plan out, in words (see applyOrder). */
  readonly order: string[];
}

/**
 * Kinds whose admission webhooks act on pods as they are created (Kruise injects a SidecarSet's
 * containers, and a WorkloadSpread's subset, at pod creation only): they go before the
 * workloads whose pods they shape, and the apply waits until kruise-manager has seen them.
 */
export const POD_INJECTOR_KINDS: ReadonlySet<string> = new Set(['SidecarSet', 'WorkloadSpread']);

/**
 * Apply stages: cluster definitions first and waited for (CRDs, Namespaces, cluster-scoped
 * RBAC), then classes and pod injectors (waited for briefly), then everything else in synth
 * order (which follows cdk8s dependencies).
 */
export function stageOf(kind: string): number {
  if (kind === 'CustomResourceDefinition' || kind === 'Namespace' || kind === 'ClusterRole' || kind === 'ClusterRoleBinding') return 0;
  if (/Class$/.test(kind) || POD_INJECTOR_KINDS.has(kind)) return 1;
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

const scopeKey = (groupKind: string, namespace: string | undefined) => `${groupKind}/${namespace ?? ''}`;

/**
 * Ownership: a desired object that is not a live member is created when it does not exist, and
 * taken over only when its owner opted it in (ANNOTATION_ADOPT); an existing object that is not
 * ours, and any ApplySet parent, is reported and never written. A read RBAC refuses is reported
 * too: treating it as "absent" would create-or-overwrite an object we know nothing about.
 */
/** Reads of objects that are not members yet, at once (the cluster client bounds them further). */
const PLAN_READS_AT_ONCE = 16;
/** This many objects of one kind in one namespace to read: one list instead. */
const LIST_INSTEAD_OF_READS = 8;

export async function plan(input: PlanInput): Promise<Plan> {
  const { cluster } = input;
  const { members, refused } = await listMembers(input);
  const foreign: Plan['foreign'] = [];
  const unowned: UnownedObject[] = [];
  const forbidden: ForbiddenRead[] = [];
  const objects: PlannedObject[] = [];
  const scopesOfDesired = new Set<string>();
  // Objects that are not (yet) members are read one by one: in parallel, a first apply of a
  // thousand objects would otherwise wait on a thousand reads in a row.
  const reads = new Map<string, Promise<{ live?: KubeObject; error?: unknown }>>();
  let toRead = input.desired.filter((d) => d.manifest.metadata.labels?.[LABEL_ID] === undefined && !members.has(d.id));
  // Many of one kind in one namespace (a first apply): one list instead of a read each. Where
  // the list is refused (RBAC may allow get and not list), each is read by itself.
  const byScope = new Map<string, DesiredObject[]>();
  for (const d of toRead) {
    const k = `${d.manifest.apiVersion}/${d.manifest.kind}/${d.manifest.metadata.namespace ?? ''}`;
    byScope.set(k, [...(byScope.get(k) ?? []), d]);
  }
  const listed = new Set<string>();
  await Promise.all([...byScope.values()].filter((ds) => ds.length >= LIST_INSTEAD_OF_READS).map(async (ds) => {
    const m = ds[0]!.manifest;
    try {
      const { items } = await cluster.list(m.apiVersion, m.kind, m.metadata.namespace ? { namespace: m.metadata.namespace } : {});
      const byName = new Map(items.map((o) => [o.metadata.name, o]));
      for (const d of ds) {
        reads.set(d.id, Promise.resolve({ live: byName.get(d.manifest.metadata.name) }));
        listed.add(d.id);
      }
    } catch (error) {
      if (error instanceof NotServedError) for (const d of ds) { reads.set(d.id, Promise.resolve({ error })); listed.add(d.id); }
    }
  }));
  toRead = toRead.filter((d) => !listed.has(d.id));
  let next = 0;
  const slots = Array.from({ length: Math.min(PLAN_READS_AT_ONCE, toRead.length) }, async () => {
    while (next < toRead.length) {
      const d = toRead[next++]!;
      const settled = cluster.get(keyOf(d.manifest)).then((live) => ({ live }), (error: unknown) => ({ error }));
      reads.set(d.id, settled);
      await settled;
    }
  });
  await Promise.all(slots);
  for (const d of input.desired) {
    const stage = stageOf(d.manifest.kind);
    const scope = scopeKey(gkOf(d.manifest), d.manifest.metadata.namespace);
    scopesOfDesired.add(scope);
    if (d.manifest.metadata.labels?.[LABEL_ID] !== undefined) {
      // A commit that declares an ApplySet parent could pose as another app's state.
      unowned.push({ desired: d, rule: 'apply/state-object' });
      continue;
    }
    const member = members.get(d.id);
    if (member) {
      objects.push({ desired: d, live: member, stage, ...decide(d, member, input.inventory[d.id]) });
      continue;
    }
    const read = await reads.get(d.id)!;
    const live = read.live;
    if (read.error !== undefined) {
      const e = read.error;
      if (e instanceof ForbiddenError) {
        forbidden.push({ desired: d, error: e });
        continue;
      }
      // A kind this commit defines (its CRD) is not served yet: nothing of it can exist.
      if (!(e instanceof NotServedError)) throw e;
    }
    const listError = refused.get(scope);
    if (listError) {
      // Readable, but its kind's members in its namespace cannot be listed: whether it is ours
      // (and what of ours has left git there) cannot be told.
      forbidden.push({ desired: d, error: listError });
      continue;
    }
    if (!live) {
      objects.push({ desired: d, action: 'create', reason: 'new', stage });
      continue;
    }
    const owner = live.metadata.labels?.[LABEL_PART_OF];
    if (live.metadata.labels?.[LABEL_ID] !== undefined) unowned.push({ desired: d, live, rule: 'apply/state-object' });
    else if (owner === input.applySetId) objects.push({ desired: d, live, stage, ...decide(d, live, input.inventory[d.id]) });
    else if (owner) foreign.push({ desired: d, owner });
    else if (live.metadata.annotations?.[ANNOTATION_ADOPT] === input.applySetId) {
      objects.push({ desired: d, live, action: 'update', reason: `exists, opted in with ${ANNOTATION_ADOPT}: adopting it`, stage });
    } else unowned.push({ desired: d, live, rule: 'apply/not-owned' });
  }
  for (const [scope, error] of refused) {
    if (scopesOfDesired.has(scope)) continue;
    const [groupKind, namespace] = [scope.slice(0, scope.lastIndexOf('/')), scope.slice(scope.lastIndexOf('/') + 1)];
    forbidden.push({ scope: { groupKind, ...(namespace ? { namespace } : {}) }, error });
  }
  const withNeeds = await markNeeds(cluster, objects);
  const desiredIds = new Set(input.desired.map((d) => d.id));
  const prune = [...members.entries()]
    .filter(([id]) => !desiredIds.has(id))
    .map(([id, live]) => ({ id, live, allowed: live.metadata.annotations?.[ANNOTATION_PRUNE] !== 'disabled' }));
  return { objects: withNeeds, prune, members, foreign, unowned, forbidden, order: describeOrder(applyOrder(withNeeds, prune)) };
}

/** `configmap`, `clusterrolebinding.rbac.authorization.k8s.io`: what kubectl takes as a type. */
function kubectlType(o: { apiVersion: string; kind: string }): string {
  const group = groupOf(o.apiVersion);
  return `${o.kind.toLowerCase()}${group ? `.${group}` : ''}`;
}

/**
 * The annotation that lets this app take over an existing object, as the kubectl command its
 * owner runs: `kubectl annotate configmap/settings -n team-a kgitops.io/adopt=applyset-...-v1`.
 */
export function adoptCommand(o: KubeObject, applySetId: string): string {
  const ns = o.metadata.namespace ? ` -n ${o.metadata.namespace}` : '';
  return `kubectl annotate ${kubectlType(o)}/${o.metadata.name}${ns} ${ANNOTATION_ADOPT}=${applySetId}`;
}

/**
 * Why a plan must not be applied, one Diagnostic per object (or refused scope): objects that are
 * not ours (apply/not-owned, apply/state-object) and reads RBAC refused (apply/forbidden).
 * Objects of another ApplySet (Plan.foreign) are the caller's to word: it knows the other app.
 */
export function planRefusals(p: Pick<Plan, 'unowned' | 'forbidden'>, applySetId: string): Diagnostic[] {
  const about = (d: DesiredObject) => {
    const m = d.manifest;
    return {
      object: { apiVersion: m.apiVersion, kind: m.kind, name: m.metadata.name, ...(m.metadata.namespace ? { namespace: m.metadata.namespace } : {}) },
      ...(d.constructPath ? { constructPath: d.constructPath } : {}),
      ...(d.source ? { source: d.source } : {}),
    };
  };
  const out: Diagnostic[] = [];
  for (const u of p.unowned) {
    const name = describeKey(keyOf(u.desired.manifest));
    const at = u.desired.constructPath ? ` (construct ${u.desired.constructPath})` : '';
    if (u.rule === 'apply/state-object') {
      out.push({
        severity: 'error', rule: u.rule, ...about(u.desired),
        message: u.live
          ? `${name}${at} is the ApplySet parent of ${u.live.metadata.labels?.[LABEL_ID] === applySetId ? 'this app (its own state)' : `another app (${u.live.metadata.labels?.[LABEL_ID]})`}: an app never takes over an ApplySet's state`
          : `${name}${at} declares the label ${LABEL_ID}, which makes it an ApplySet parent: an app never writes an ApplySet's state`,
        hint: u.live
          ? `remove ${name} from git, or give it another name; ${ANNOTATION_ADOPT} does not apply to ApplySet parents`
          : `remove the label ${LABEL_ID} from the object in git`,
      });
    } else {
      out.push({
        severity: 'error', rule: u.rule, ...about(u.desired),
        message: `${name}${at} already exists and is not managed by this app (no label ${LABEL_PART_OF}=${applySetId}): kgitops does not take over objects it did not create`,
        hint: `if this app should manage it from now on, its owner opts it in: ${adoptCommand(u.live!, applySetId)}; otherwise rename it in git or remove it from git`,
      });
    }
  }
  for (const f of p.forbidden) {
    if (f.desired) {
      const name = describeKey(keyOf(f.desired.manifest));
      const at = f.desired.constructPath ? ` (construct ${f.desired.constructPath})` : '';
      out.push({
        severity: 'error', rule: 'apply/forbidden', ...about(f.desired),
        message: f.error.request.verb === 'list'
          ? `${name}${at} cannot be planned: this app's identity may not list the app's members of its kind${f.desired.manifest.metadata.namespace ? ' in its namespace' : ''}: ${f.error.message}`
          : `${name}${at} cannot be planned: this app's identity may not read it: ${f.error.message}`,
        hint: `remove it from git if this app should not manage it; otherwise ${f.error.hint ?? 'grant its identity the verbs get and list on it'}`,
      });
    } else {
      const where = `${f.scope!.groupKind}${f.scope!.namespace ? ` in namespace ${f.scope!.namespace}` : ' (cluster-scoped)'}`;
      out.push({
        severity: 'error', rule: 'apply/forbidden',
        message: `the members of this app's ApplySet of kind ${where} cannot be listed: ${f.error.message}`,
        hint: `${f.error.hint ?? 'grant the app\'s identity the verb list on it'}; or, if the app has nothing there any more, delete its members there by hand and remove ${where.split(' ')[0]} from the annotation applyset.kubernetes.io/contains-group-kinds of the app's parent`,
      });
    }
  }
  return out;
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

const STAGE_NAMES = ['cluster definitions', 'classes and pod injectors', 'the rest'];

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

/**
 * Lists every live member of the set: one labelled list per group-kind and namespace. A list RBAC
 * refuses is returned in `refused` (by scopeKey), not thrown: plan() reports it per object.
 */
async function listMembers(input: PlanInput): Promise<{ members: Map<string, KubeObject>; refused: Map<string, ApiError> }> {
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
  const refused = new Map<string, ApiError>();
  await Promise.all([...gks].map(async (gk) => {
    const apiVersion = apiVersionOf.get(gk) ?? (await resolveApiVersion(cluster, gk));
    if (!apiVersion) return;
    const kind = gk.split('.')[0];
    const info = await cluster.resource(apiVersion, kind).catch(() => undefined);
    if (!info) return; // a kind no longer served has no members to find
    const scopes = info.namespaced ? [...namespaces] : [undefined];
    await Promise.all(scopes.map(async (namespace) => {
      try {
        const { items } = await cluster.list(apiVersion, kind, { namespace, labelSelector: selector });
        for (const item of items) members.set(objectId(keyOf(item)), item);
      } catch (e) {
        if (!(e instanceof ForbiddenError)) throw e;
        refused.set(scopeKey(gk, namespace), e);
      }
    }));
  }));
  return { members, refused };
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

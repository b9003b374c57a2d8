/**
 * The Cluster interface: everything the engine does to a cluster goes through it. Two
 * implementations: KubeCluster (a real apiserver, through its HTTP API) and SimCluster (an
 * in-process simulation of the apiserver and the Kruise controllers, for `npm start` and fast
 * deterministic tests of the release logic; never a stand-in for the real apiserver in
 * integration tests).
 */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  managedFields?: ManagedFieldsEntry[];
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  [k: string]: unknown;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion?: string;
  time?: string;
  subresource?: string;
  fieldsType?: string;
  fieldsV1?: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [k: string]: any;
}

/** Identifies one object. `namespace` is unset for cluster-scoped kinds. */
export interface ObjectKey {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

/** What discovery says about a kind. */
export interface ResourceInfo {
  readonly apiVersion: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

export interface ApplyOptions {
  /** Server-side apply field manager. */
  readonly fieldManager: string;
  /** Take ownership of conflicting fields. Never the default. */
  readonly force?: boolean;
  /** Validate and compute the result without persisting it. */
  readonly dryRun?: boolean;
}

export interface DeleteOptions {
  /** @default Background */
  readonly propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  readonly dryRun?: boolean;
  /** Delete only if the object still has this uid (guards against deleting a re-created object). */
  readonly uid?: string;
}

export interface ListOptions {
  /** Unset lists all namespaces (or a cluster-scoped kind). */
  readonly namespace?: string;
  readonly labelSelector?: string;
}

export interface ListResult {
  readonly items: KubeObject[];
  readonly resourceVersion: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchEvent {
  readonly type: WatchEventType;
  readonly object: KubeObject;
}

export interface WatchOptions extends ListOptions {
  /** Start after this resourceVersion (from a list); unset starts with the current state. */
  readonly resourceVersion?: string;
}

/** A running watch; `stop()` ends it. `done` settles when it ends (rejects on error, e.g. 410 Gone). */
export interface WatchHandle {
  stop(): void;
  readonly done: Promise<void>;
}

export interface EventInput {
  readonly type: 'Normal' | 'Warning';
  /** CamelCase reason, e.g. `ReleaseStepAdvanced`. */
  readonly reason: string;
  readonly message: string;
}

/** Who the cluster says the caller is: authentication.k8s.io SelfSubjectReview's userInfo. */
export interface UserIdentity {
  /** e.g. alice@example.com, system:serviceaccount:shop:deployer */
  readonly username: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  /** True when no real apiserver authenticated anyone (SimCluster). */
  readonly simulated?: boolean;
}

export interface Cluster {
  /** Human name: the kubeconfig context, or "simulation". */
  readonly name: string;
  /** True for SimCluster: everything that prints about the cluster says so. */
  readonly simulated: boolean;

  /** Discovery. Throws NotServedError if the apiVersion/kind is not served. */
  resource(apiVersion: string, kind: string): Promise<ResourceInfo>;
  /** Undefined when the object does not exist. */
  get(key: ObjectKey): Promise<KubeObject | undefined>;
  list(apiVersion: string, kind: string, options?: ListOptions): Promise<ListResult>;
  /** Server-side apply. Throws ConflictError on field conflicts (unless force). */
  apply(obj: KubeObject, options: ApplyOptions): Promise<KubeObject>;
  /** Server-side apply to the status subresource. */
  applyStatus(obj: KubeObject, options: ApplyOptions): Promise<KubeObject>;
  /** False if the object was already gone. */
  delete(key: ObjectKey, options?: DeleteOptions): Promise<boolean>;
  watch(apiVersion: string, kind: string, options: WatchOptions, onEvent: (e: WatchEvent) => void): Promise<WatchHandle>;
  /** Records a Kubernetes Event on an object (best effort: never throws). */
  event(involved: KubeObject, event: EventInput, component?: string): Promise<void>;
  /** Who our credentials authenticate as, asked of the cluster (a SelfSubjectReview). */
  whoAmI(): Promise<UserIdentity>;
}

export function keyOf(obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): ObjectKey {
  return { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}) };
}

/** The API group of an apiVersion ("" for the core group). */
export function groupOf(apiVersion: string): string {
  const i = apiVersion.lastIndexOf('/');
  return i === -1 ? '' : apiVersion.slice(0, i);
}

/** `CloneSet.apps.kruise.io` or `Service` (core): the group-kind form ApplySets use. */
export function groupKind(apiVersion: string, kind: string): string {
  const g = groupOf(apiVersion);
  return g ? `${kind}.${g}` : kind;
}

/** A stable string id of an object across apiVersions of the same group. */
export function objectId(key: ObjectKey): string {
  return `${groupKind(key.apiVersion, key.kind)}/${key.namespace ?? ''}/${key.name}`;
}

/** The key of an objectId, given the apiVersion it was recorded with (inventories keep both). */
export function keyOfObjectId(id: string, apiVersion: string): ObjectKey {
  const [gk, namespace, ...name] = id.split('/');
  return { apiVersion, kind: gk!.split('.')[0]!, name: name.join('/'), ...(namespace ? { namespace } : {}) };
}

/** `CloneSet shop/storefront` */
export function describeKey(key: ObjectKey): string {
  return `${key.kind} ${key.namespace ? `${key.namespace}/` : ''}${key.name}`;
}

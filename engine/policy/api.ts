/**
 * Policies as code: the typed API a repo's `policies/*.ts` files use.
 *
 *   import { definePolicy } from 'kruise-gitops/policy';
 *   export default definePolicy({
 *     name: 'team-label',
 *     kinds: ['CloneSet'],
 *     check(o, ctx) {
 *       if (!o.manifest.metadata?.labels?.team) ctx.report('has no team label', { path: 'metadata.labels.team' });
 *     },
 *   });
 *
 * A policy sees one synthesized object at a time (typed when `kinds` names Kruise or core
 * kinds), the whole rendered set, and the previous version of the object when there is one
 * (the base ref in `kgitops diff`, the applied commit in the engine).
 */
import type { k8s } from 'cdk8s-plus-33';
import type * as kruise from '../../dsl/imports/apps.kruise.io.js';
import type * as kruisePolicy from '../../dsl/imports/policy.kruise.io.js';

/**
 * The JSON form of a generated type: int-or-string and quantity wrappers (classes whose only
 * field is `value`) become the number or string the manifest holds.
 */
export type Plain<T> =
  T extends string | number | boolean | null | undefined ? T
    : T extends ReadonlyArray<infer U> ? Plain<U>[]
      : [keyof T] extends ['value'] ? string | number
        : T extends object ? { [K in keyof T]: Plain<T[K]> }
          : T;

type PodTemplate = Plain<k8s.PodTemplateSpec>;
type Meta = Plain<k8s.ObjectMeta> & { name: string; namespace?: string };
/** Kruise CRDs leave pod templates schemaless; the policy types fill them in from Kubernetes. */
type WithTemplate<S> = Omit<Plain<S>, 'template'> & { template: PodTemplate };
type Manifest<K extends string, V extends string, S> = { apiVersion: V; kind: K; metadata: Meta; spec: S; status?: unknown };

/** Manifests by the names policies use for them in `kinds`. */
export interface KindManifests {
  CloneSet: Manifest<'CloneSet', 'apps.kruise.io/v1alpha1', WithTemplate<kruise.CloneSetSpec>>;
  /** apps.kruise.io StatefulSet */
  AdvancedStatefulSet: Manifest<'StatefulSet', 'apps.kruise.io/v1beta1' | 'apps.kruise.io/v1alpha1', WithTemplate<kruise.StatefulSetV1Beta1Spec>>;
  /** apps.kruise.io DaemonSet */
  AdvancedDaemonSet: Manifest<'DaemonSet', 'apps.kruise.io/v1alpha1' | 'apps.kruise.io/v1beta1', WithTemplate<kruise.DaemonSetSpec>>;
  SidecarSet: Manifest<'SidecarSet', 'apps.kruise.io/v1alpha1' | 'apps.kruise.io/v1beta1', Plain<kruise.SidecarSetSpec> & { containers: Plain<k8s.Container>[]; initContainers?: Plain<k8s.Container>[] }>;
  UnitedDeployment: Manifest<'UnitedDeployment', 'apps.kruise.io/v1alpha1', Plain<kruise.UnitedDeploymentSpec>>;
  BroadcastJob: Manifest<'BroadcastJob', 'apps.kruise.io/v1alpha1' | 'apps.kruise.io/v1beta1', WithTemplate<kruise.BroadcastJobSpec>>;
  AdvancedCronJob: Manifest<'AdvancedCronJob', 'apps.kruise.io/v1alpha1' | 'apps.kruise.io/v1beta1', Plain<kruise.AdvancedCronJobSpec>>;
  PodUnavailableBudget: Manifest<'PodUnavailableBudget', 'policy.kruise.io/v1alpha1', Plain<kruisePolicy.PodUnavailableBudgetSpec>>;
  WorkloadSpread: Manifest<'WorkloadSpread', 'apps.kruise.io/v1alpha1', Plain<kruise.WorkloadSpreadSpec>>;
  PersistentPodState: Manifest<'PersistentPodState', 'apps.kruise.io/v1alpha1', Plain<kruise.PersistentPodStateSpec>>;
  ImagePullJob: Manifest<'ImagePullJob', 'apps.kruise.io/v1alpha1' | 'apps.kruise.io/v1beta1', Plain<kruise.ImagePullJobSpec>>;
  ImageListPullJob: Manifest<'ImageListPullJob', 'apps.kruise.io/v1alpha1' | 'apps.kruise.io/v1beta1', Plain<kruise.ImageListPullJobSpec>>;
  PodProbeMarker: Manifest<'PodProbeMarker', 'apps.kruise.io/v1alpha1', Plain<kruise.PodProbeMarkerSpec>>;
  ResourceDistribution: Manifest<'ResourceDistribution', 'apps.kruise.io/v1alpha1', Plain<kruise.ResourceDistributionSpec>>;
  ContainerRecreateRequest: Manifest<'ContainerRecreateRequest', 'apps.kruise.io/v1alpha1', Plain<kruise.ContainerRecreateRequestSpec>>;
  EphemeralJob: Manifest<'EphemeralJob', 'apps.kruise.io/v1alpha1', Plain<kruise.EphemeralJobSpec>>;
  Deployment: Manifest<'Deployment', 'apps/v1', Plain<k8s.DeploymentSpec>>;
  StatefulSet: Manifest<'StatefulSet', 'apps/v1', Plain<k8s.StatefulSetSpec>>;
  DaemonSet: Manifest<'DaemonSet', 'apps/v1', Plain<k8s.DaemonSetSpec>>;
  Job: Manifest<'Job', 'batch/v1', Plain<k8s.JobSpec>>;
  CronJob: Manifest<'CronJob', 'batch/v1', Plain<k8s.CronJobSpec>>;
  PodDisruptionBudget: Manifest<'PodDisruptionBudget', 'policy/v1', Plain<k8s.PodDisruptionBudgetSpec>>;
  Service: Manifest<'Service', 'v1', Plain<k8s.ServiceSpec>>;
}

export type KindName = keyof KindManifests;

/** API group and kind of each name in KindManifests. */
export const KIND_NAMES: Readonly<Record<KindName, { group: string; kind: string }>> = {
  CloneSet: { group: 'apps.kruise.io', kind: 'CloneSet' },
  AdvancedStatefulSet: { group: 'apps.kruise.io', kind: 'StatefulSet' },
  AdvancedDaemonSet: { group: 'apps.kruise.io', kind: 'DaemonSet' },
  SidecarSet: { group: 'apps.kruise.io', kind: 'SidecarSet' },
  UnitedDeployment: { group: 'apps.kruise.io', kind: 'UnitedDeployment' },
  BroadcastJob: { group: 'apps.kruise.io', kind: 'BroadcastJob' },
  AdvancedCronJob: { group: 'apps.kruise.io', kind: 'AdvancedCronJob' },
  PodUnavailableBudget: { group: 'policy.kruise.io', kind: 'PodUnavailableBudget' },
  WorkloadSpread: { group: 'apps.kruise.io', kind: 'WorkloadSpread' },
  PersistentPodState: { group: 'apps.kruise.io', kind: 'PersistentPodState' },
  ImagePullJob: { group: 'apps.kruise.io', kind: 'ImagePullJob' },
  ImageListPullJob: { group: 'apps.kruise.io', kind: 'ImageListPullJob' },
  PodProbeMarker: { group: 'apps.kruise.io', kind: 'PodProbeMarker' },
  ResourceDistribution: { group: 'apps.kruise.io', kind: 'ResourceDistribution' },
  ContainerRecreateRequest: { group: 'apps.kruise.io', kind: 'ContainerRecreateRequest' },
  EphemeralJob: { group: 'apps.kruise.io', kind: 'EphemeralJob' },
  Deployment: { group: 'apps', kind: 'Deployment' },
  StatefulSet: { group: 'apps', kind: 'StatefulSet' },
  DaemonSet: { group: 'apps', kind: 'DaemonSet' },
  Job: { group: 'batch', kind: 'Job' },
  CronJob: { group: 'batch', kind: 'CronJob' },
  PodDisruptionBudget: { group: 'policy', kind: 'PodDisruptionBudget' },
  Service: { group: '', kind: 'Service' },
};

/** Any rendered manifest. */
export interface AnyManifest {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  [field: string]: any;
}

/** One synthesized object as a policy sees it. */
export interface PolicyTarget<M = AnyManifest> {
  readonly manifest: M;
  /** Construct path of the declaring construct, e.g. `shop/storefront`. */
  readonly constructPath: string;
  /** `file:line:col` of the declaration, when known. */
  readonly source?: string;
  readonly chart: string;
}

export interface ReportOptions {
  /** JSON path in the object, e.g. `spec.template.spec.containers[0].image`. */
  readonly path?: string;
  /** What to do about it. */
  readonly hint?: string;
  /** Overrides the policy's severity for this violation. */
  readonly severity?: 'error' | 'warning';
}

export interface PolicyContext {
  /** Records a violation of this policy by the object being checked. */
  report(message: string, options?: ReportOptions): void;
  /** The same object (same group, kind, namespace and name) in the previous version, if any. */
  readonly previous?: PolicyTarget;
  /** Every object of this version, for policies that look across objects. */
  readonly all: readonly PolicyTarget[];
  /** The objects of this version matching a kind name. */
  objectsOf<K extends KindName>(kind: K): PolicyTarget<KindManifests[K]>[];
}

/**
 * What a policy's check sees: the typed manifest of the kinds it names, any manifest when it
 * names none (it is then given every object, ConfigMaps and custom resources included).
 */
export type PolicyTargetOf<K extends KindName> = [K] extends [never] ? PolicyTarget : PolicyTarget<KindManifests[K]>;

export interface PolicyDefinition<K extends KindName = never> {
  /** Stable id, shown as `policy/<name>` in diagnostics. Lower case, digits and dashes. */
  readonly name: string;
  /** One line on what the policy asks for. */
  readonly description?: string;
  /** @default 'error': an error blocks the apply of the commit; a warning is reported only. */
  readonly severity?: 'error' | 'warning';
  /** Only objects of these kinds are checked (and typed accordingly). @default every object */
  readonly kinds?: readonly K[];
  check(object: PolicyTargetOf<K>, context: PolicyContext): void;
}

/** A policy, ready to run. */
export interface Policy {
  readonly __kgitopsPolicy: 1;
  readonly name: string;
  readonly description: string;
  readonly severity: 'error' | 'warning';
  readonly kinds?: readonly KindName[];
  check(object: PolicyTarget, context: PolicyContext): void;
}

const NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\/[a-z0-9]([a-z0-9-]*[a-z0-9])?)?$/;

// K is never unless `kinds` names some: a policy without kinds sees (and is typed for) every object.
export function definePolicy<K extends KindName = never>(definition: PolicyDefinition<K>): Policy {
  if (!NAME.test(definition.name)) {
    throw new Error(`policy name "${definition.name}" must be lower case letters, digits and dashes (for example "team-label")`);
  }
  if (typeof definition.check !== 'function') throw new Error(`policy "${definition.name}" has no check function`);
  for (const k of definition.kinds ?? []) {
    if (!(k in KIND_NAMES)) throw new Error(`policy "${definition.name}": unknown kind "${k}"; use one of ${Object.keys(KIND_NAMES).join(', ')}`);
  }
  return {
    __kgitopsPolicy: 1,
    name: definition.name,
    description: definition.description ?? '',
    severity: definition.severity ?? 'error',
    ...(definition.kinds ? { kinds: [...definition.kinds] } : {}),
    check: definition.check as Policy['check'],
  };
}

export function isPolicy(x: unknown): x is Policy {
  return typeof x === 'object' && x !== null && (x as Policy).__kgitopsPolicy === 1;
}

/** Whether a manifest is of a kind name; narrows its type. */
export function isKind<K extends KindName>(manifest: { apiVersion?: string; kind?: string }, kind: K): manifest is KindManifests[K] {
  const want = KIND_NAMES[kind];
  if (manifest.kind !== want.kind) return false;
  // Called for every object and policy: the group without splitting the apiVersion.
  const slash = manifest.apiVersion?.indexOf('/') ?? -1;
  return (slash < 0 ? '' : manifest.apiVersion!.slice(0, slash)) === want.group;
}

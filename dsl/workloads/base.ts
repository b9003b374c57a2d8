/**
 * The base of every Kruise workload that has a pod template. It is a cdk8s-plus Workload, so
 * containers, env, volumes, probes, resources, security context, scheduling and connections
 * behave exactly as in cdk8s-plus; subclasses add the Kruise spec in `_toKube()`.
 */
import { ApiObject, type JsonPatch, Lazy } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import { ANNOTATION_RELEASE_PLAN, type Release } from '../release.js';
import { SourceLocation } from '../source.js';
import { noteContainerDefaults, notePodDefaults, noteSelectorLabel } from './plus-defaults.js';
import { type Budget, PodUnavailableBudget, type ProtectedOperation } from '../features/pod-unavailable-budget.js';
import { type SpreadStrategy, type SpreadSubsetProps, WorkloadSpread } from '../features/workload-spread.js';

/** Implemented by every kruise-gitops construct, so synth can say where it was declared. */
export interface IDeclared {
  /** @internal */
  readonly _source: SourceLocation;
}

export function isDeclared(x: unknown): x is IDeclared {
  return typeof x === 'object' && x !== null && (x as IDeclared)._source instanceof SourceLocation;
}

/** The two versions Kruise 1.9 serves of several kinds. */
export type KruiseApiVersion = 'apps.kruise.io/v1alpha1' | 'apps.kruise.io/v1beta1';

/** Props of a kind Kruise 1.9 serves in two versions. */
export interface VersionedProps {
  /**
   * The apiVersion to write. Both are served by Kruise 1.9 and stored the same way; v1beta1
   * only exists from Kruise 1.9 on (v1alpha1 also works on older releases).
   * @default 'apps.kruise.io/v1alpha1' (AdvancedStatefulSet: 'apps.kruise.io/v1beta1')
   */
  readonly apiVersion?: KruiseApiVersion;
}

/** A pod template in Kubernetes' own JSON (as in a manifest). */
export interface PodTemplateAsWritten {
  readonly metadata?: { readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly spec: Record<string, unknown>;
}

/** Props every Kruise workload with a pod template accepts (all of cdk8s-plus's WorkloadProps). */
export interface KruiseWorkloadProps extends kplus.WorkloadProps {
  /**
   * The escape hatch for a pod template kept exactly as written, as `kgitops import` writes for
   * existing YAML: cdk8s-plus would render the same pods with its own defaults (security
   * context, resources, pull policy, ...), a new template, and every pod would restart once.
   * With it, leave out `containers`, `volumes` and the other pod props (they would be ignored),
   * and select the pods with `select: false` and `workload.select(kplus.LabelSelector.of(...))`.
   * @default the template cdk8s-plus renders from the props
   */
  readonly podTemplate?: PodTemplateAsWritten;
}

/** Props of the workloads a release plan can drive. */
export interface ReleasableProps {
  /**
   * How a new template reaches the pods: steps, each with gates that must pass before the release
   * moves on. The engine drives it by moving the partition; partition and paused then belong to
   * the release. @default none: a new template rolls out as the update strategy says
   */
  readonly release?: Release;
}

/** Serializes a release plan into the annotation the engine reads. */
export function attachRelease(apiObject: ApiObject, release: Release | undefined): void {
  if (release) apiObject.metadata.addAnnotation(ANNOTATION_RELEASE_PLAN, JSON.stringify(release._toSpec()));
}

type L1Class = new (scope: Construct, id: string, props: { metadata?: any; spec?: any }) => ApiObject;

export abstract class KruiseWorkload extends kplus.Workload implements IDeclared {
  /** @internal */
  public readonly _source = SourceLocation.capture();
  /** The underlying generated (L1) object; an escape hatch for fields this construct does not cover. */
  public readonly apiObject: ApiObject;

  private readonly podTemplateAsWritten: PodTemplateAsWritten | undefined;

  protected constructor(scope: Construct, id: string, props: KruiseWorkloadProps, l1: L1Class) {
    super(scope, id, props);
    this.podTemplateAsWritten = props.podTemplate;
    if (props.podTemplate && (props.containers?.length || props.initContainers?.length || props.volumes?.length)) {
      throw new Error(`${this.node.path}: podTemplate is the whole pod template: leave out containers, initContainers and volumes`);
    }
    if (!props.podTemplate) notePodDefaults(this, props);
    const addressLabel = this.matchLabels[kplus.Pod.ADDRESS_LABEL];
    if (props.select === undefined && addressLabel !== undefined) noteSelectorLabel(this, kplus.Pod.ADDRESS_LABEL, addressLabel);
    this.apiObject = new l1(this, 'Resource', {
      metadata: props.metadata,
      spec: Lazy.any({ produce: () => this._toKube() }),
    });
  }

  /**
   * Patches the rendered manifest (RFC 6902) for fields this construct does not cover, in the
   * CRD's field names: `cs.addJsonPatch(JsonPatch.add('/spec/scaleStrategy/disablePVCReuse', true))`.
   * Same as `apiObject.addJsonPatch`. A patch that cannot apply is a synth error naming its path.
   */
  public addJsonPatch(...ops: JsonPatch[]): void {
    this.apiObject.addJsonPatch(...ops);
  }

  // Both also run for the containers in props, from cdk8s-plus's constructor.
  public override addContainer(props: kplus.ContainerProps): kplus.Container {
    noteContainerDefaults(this, props);
    return super.addContainer(props);
  }

  public override addInitContainer(props: kplus.ContainerProps): kplus.Container {
    noteContainerDefaults(this, props);
    return super.addInitContainer(props);
  }

  /** The Kruise spec, in the shape of the generated L1 props. @internal */
  public abstract _toKube(): any;

  /**
   * `{ metadata, spec }` of the pod template as plain Kubernetes JSON. Kruise CRDs leave
   * `template` untyped, so the L1 class passes it through as is: convert cdk8s-plus's typed
   * pod spec (Quantity objects, renamed fields such as setHostnameAsFqdn) here. @internal
   */
  protected _podTemplate(): { metadata: any; spec: any } {
    if (this.podTemplateAsWritten) return structuredClone(this.podTemplateAsWritten) as { metadata: any; spec: any };
    const metadata = this.podMetadata.toJson();
    const template = k8s.toJson_PodTemplateSpec({ metadata, spec: this._toPodSpec() }) as { metadata: any; spec: any };
    if (Object.keys(template.metadata ?? {}).length === 0) delete template.metadata;
    return template;
  }

  /**
   * Spreads this workload's pods over subsets of nodes with a WorkloadSpread of the same name
   * and namespace (not `spread`: cdk8s-plus's Workload keeps that name for topology spread):
   * `cs.spreadAcross([{ name: 'zone-a', requiredNodeSelector: { 'topology.kubernetes.io/zone': 'a' }, maxReplicas: 3 }, { name: 'rest' }])`.
   */
  public spreadAcross(subsets: SpreadSubsetProps[], options: { strategy?: SpreadStrategy; name?: string } = {}): WorkloadSpread {
    return new WorkloadSpread(this, 'Spread', {
      metadata: { name: options.name ?? this.name, namespace: this.metadata.namespace },
      target: this, subsets, strategy: options.strategy,
    });
  }

  /**
   * Limits how many of this workload's pods may be unavailable at once, also during in-place
   * updates and deletions, with a PodUnavailableBudget of the same name and namespace:
   * `cs.budget({ maxUnavailable: 1 })`.
   */
  public budget(budget: Budget & { protect?: ProtectedOperation[]; name?: string }): PodUnavailableBudget {
    const { name, ...rest } = budget;
    return new PodUnavailableBudget(this, 'Budget', {
      metadata: { name: name ?? this.name, namespace: this.metadata.namespace },
      target: this, ...rest,
    } as ConstructorParameters<typeof PodUnavailableBudget>[2]);
  }

  /**
   * Exposes the pods through a Service, as `Deployment.exposeViaService` does in cdk8s-plus:
   * by default one port per container port, ClusterIP.
   */
  public exposeViaService(options: kplus.DeploymentExposeViaServiceOptions = {}): kplus.Service {
    const containerPorts = this.containers.flatMap((c) => c.ports);
    const ports = options.ports ?? containerPorts.map((p) => ({
      port: p.number, targetPort: p.number, protocol: p.protocol, name: p.name,
    }));
    if (ports.length === 0) {
      throw new Error(`${this.node.path}: cannot expose via a Service: no container declares a port. `
        + 'Pass `ports`, or add `portNumber`/`ports` to a container.');
    }
    if (ports.length > 1 && ports.some((p) => p.name === undefined)) {
      throw new Error(`${this.node.path}: cannot expose via a Service: with several ports every port needs a name.`);
    }
    const known = new Set(containerPorts.map((p) => p.number));
    for (const p of ports) {
      const target = p.targetPort ?? p.port;
      if (!known.has(target)) {
        throw new Error(`${this.node.path}: cannot expose via a Service: port ${target} is not a container port.`);
      }
    }
    return new kplus.Service(this, `${options.name ?? ''}Service`, {
      selector: this,
      ports,
      metadata: { namespace: this.metadata.namespace, ...(options.name ? { name: options.name } : {}) },
      type: options.serviceType ?? kplus.ServiceType.CLUSTER_IP,
    });
  }
}

/**
 * SidecarSet (apps.kruise.io/v1alpha1, cluster-scoped): containers that Kruise injects into
 * every matching pod at creation and upgrades in place, without touching the workloads.
 */
import { ApiObject, type ApiObjectMetadata, type JsonPatch, Lazy } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import * as kruise from '../imports/apps.kruise.io.js';
import type { IntOrPercent } from '../arithmetic.js';
import { SourceLocation } from '../source.js';
import { attachRelease, type IDeclared, type ReleasableProps, type VersionedProps } from './base.js';
import { type ScatterRule, type SelectorLike, selectorToKube, UpdatePriority } from './common.js';
import { noteContainerDefaults } from './plus-defaults.js';

/** Where an injected container goes relative to the pod's own containers. */
export enum SidecarInjectPolicy {
  BEFORE_APP_CONTAINER = 'BeforeAppContainer',
  AFTER_APP_CONTAINER = 'AfterAppContainer',
}

/** How a sidecar's image is upgraded. */
export class SidecarUpgrade {
  /** Restart the container with the new image. Kruise's default. */
  static cold(): SidecarUpgrade {
    return new SidecarUpgrade('ColdUpgrade', undefined);
  }

  /**
   * Run two containers and switch between them, so the sidecar never stops serving.
   * @param emptyImage an image that does nothing, run in the standby container
   */
  static hot(emptyImage: string): SidecarUpgrade {
    return new SidecarUpgrade('HotUpgrade', emptyImage);
  }

  private constructor(public readonly upgradeType: string, public readonly hotUpgradeEmptyImage: string | undefined) {}
}

/**
 * Copies environment variables from an app container of the pod into the sidecar: from a
 * container named here, or from the container whose name a field of the pod holds (for pods of
 * different workloads, whose main containers have different names).
 */
export type TransferEnv = {
  /** One variable to copy. */
  readonly envName?: string;
  /** Several variables to copy. */
  readonly envNames?: string[];
} & (
  | { /** The pod container to copy from. */ readonly sourceContainerName: string; readonly sourceContainerNameFrom?: undefined }
  | {
    /**
     * A label or annotation of the pod that names the container: `metadata.labels['<key>']`
     * or `metadata.annotations['<key>']`.
     */
    readonly sourceContainerNameFrom: string;
    readonly sourceContainerName?: undefined;
  }
);

/** Expressions over the pod's containers' cpu or memory: `"max(cpu*50%, 50m)"`, `"memory*25%"`, `"100Mi"`. */
export interface SidecarResourceExpressions {
  readonly cpu?: string;
  readonly memory?: string;
}

/**
 * Sizes the sidecar from the pod's own containers when the pod is created, instead of fixed
 * resources (which a sidecar with a resources policy must not have).
 */
export interface SidecarResourcesPolicy {
  /** How the matched containers' resources combine into `cpu` and `memory`. */
  readonly mode: 'sum' | 'max';
  /** Containers (a regular expression on their names) whose resources count. @default every app container (".*") */
  readonly containers?: string;
  readonly requests?: SidecarResourceExpressions;
  readonly limits?: SidecarResourceExpressions;
}

/** A sidecar container: a cdk8s-plus container plus Kruise's injection options. */
export interface SidecarContainerProps extends kplus.ContainerProps {
  /** @default BEFORE_APP_CONTAINER for containers, AFTER_APP_CONTAINER for init containers */
  readonly podInjectPolicy?: SidecarInjectPolicy;
  /** @default SidecarUpgrade.cold() */
  readonly upgrade?: SidecarUpgrade;
  /** Also mount every volume of the pod's app containers. @default false */
  readonly shareVolumes?: boolean;
  /** Environment variables copied from app containers. @default none */
  readonly transferEnv?: TransferEnv[];
  /** Also get every volume device of the pod's app containers. @default false */
  readonly shareVolumeDevices?: boolean;
  /** Resources computed from the pod's app containers (then `resources` must be unset). @default none */
  readonly resourcesPolicy?: SidecarResourcesPolicy;
}

interface CommonRollingOptions {
  /** Most pods whose sidecar is unavailable during an upgrade (must be > 0). @default 1 */
  readonly maxUnavailable?: IntOrPercent;
  /** Stop upgrading sidecars. @default false */
  readonly paused?: boolean;
  /** Which pods upgrade first. */
  readonly priority?: UpdatePriority;
  /** Spread upgraded pods over label values (`value: '*'` expands per pod). */
  readonly scatter?: ScatterRule[];
}

/**
 * Upgrade either a partition of the matched pods or only the pods a selector picks. Kruise
 * rejects a selector together with a non-zero partition, so the types forbid it too.
 */
export type SidecarSetRollingUpdateOptions = CommonRollingOptions & (
  | {
    /**
     * Matched pods kept at the old sidecar: a count, or a percentage (rounded up).
     * A release plan owns this field once one is attached. @default 0
     */
    readonly partition?: IntOrPercent;
    readonly selector?: undefined;
  }
  | {
    /** Only upgrade pods matching this selector. */
    readonly selector: SelectorLike;
    /** Only 0: Kruise rejects any other partition (even "0%") next to a selector. */
    readonly partition?: 0;
  }
);

export class SidecarSetUpdateStrategy {
  /** Upgrade injected sidecars in place when the SidecarSet changes. Kruise's default. */
  static rollingUpdate(options: SidecarSetRollingUpdateOptions = {}): SidecarSetUpdateStrategy {
    return new SidecarSetUpdateStrategy('RollingUpdate', options);
  }

  /** Never upgrade running pods; only newly created pods get the new sidecar. */
  static notUpdate(): SidecarSetUpdateStrategy {
    return new SidecarSetUpdateStrategy('NotUpdate', {});
  }

  private constructor(public readonly type: 'RollingUpdate' | 'NotUpdate', public readonly options: SidecarSetRollingUpdateOptions) {}

  /** @internal */
  _toKube(): Record<string, unknown> {
    const o = this.options;
    return {
      type: this.type,
      partition: o.partition,
      maxUnavailable: o.maxUnavailable,
      paused: o.paused,
      selector: selectorToKube(o.selector),
      priorityStrategy: o.priority?._toKube(),
      scatterStrategy: o.scatter?.map((s) => ({ key: s.key, value: s.value })),
    };
  }
}

export interface SidecarSetProps extends ReleasableProps, VersionedProps {
  /** Object metadata (SidecarSets are cluster-scoped: a namespace is ignored). */
  readonly metadata?: ApiObjectMetadata;
  /** Pods to inject into. Required: Kruise rejects an empty selector. */
  readonly selector: SelectorLike;
  /**
   * Only pods in this namespace. Rendered as a namespaceSelector on the namespace's name label:
   * v1alpha1's own `spec.namespace` field cannot be server-side applied once Kruise stores
   * SidecarSets as v1beta1 (1.9) unless its conversion webhook is installed. @default every namespace
   */
  readonly namespace?: string;
  /** Only pods in namespaces with these labels. @default every namespace */
  readonly namespaceSelector?: SelectorLike;
  /** Injected containers. At least one container or init container is required. */
  readonly containers?: SidecarContainerProps[];
  /** Injected init containers. */
  readonly initContainers?: SidecarContainerProps[];
  /** Volumes added to the pod for the sidecars; volumes mounted by the containers are added automatically. */
  readonly volumes?: kplus.Volume[];
  /** @default SidecarSetUpdateStrategy.rollingUpdate() */
  readonly updateStrategy?: SidecarSetUpdateStrategy;
  /** Stop injecting into new pods. @default false */
  readonly injectionPaused?: boolean;
  /** Image pull secrets added to the pod. */
  readonly imagePullSecrets?: string[];
  /** Old revisions kept. @default 10 */
  readonly revisionHistoryLimit?: number;
}

export class SidecarSet extends Construct implements IDeclared {
  /** @internal */
  public readonly _source = SourceLocation.capture();
  /**
   * The rendered object. This is a plain ApiObject, not the generated L1 class: the generated
   * SidecarSet class renders only Kruise's own fields of a sidecar container and silently drops
   * its name, image and every other core container field.
   */
  public readonly apiObject: ApiObject;
  public readonly updateStrategy: SidecarSetUpdateStrategy;
  private readonly props: SidecarSetProps;

  constructor(scope: Construct, id: string, props: SidecarSetProps) {
    super(scope, id);
    this.props = props;
    this.updateStrategy = props.updateStrategy ?? SidecarSetUpdateStrategy.rollingUpdate();
    for (const c of [...props.containers ?? [], ...props.initContainers ?? []]) noteContainerDefaults(this, c);
    this.apiObject = new ApiObject(this, 'Resource', {
      ...props.apiVersion === 'apps.kruise.io/v1beta1' ? kruise.SidecarSetV1Beta1.GVK : kruise.SidecarSet.GVK,
      metadata: props.metadata,
      spec: Lazy.any({ produce: () => this._toKube() }),
    });
    attachRelease(this.apiObject, props.release);
  }

  public get name(): string {
    return this.apiObject.name;
  }

  /** Patches the rendered manifest (RFC 6902), as `KruiseWorkload.addJsonPatch` does. */
  public addJsonPatch(...ops: JsonPatch[]): void {
    this.apiObject.addJsonPatch(...ops);
  }

  /** @internal */
  public _toKube(): Record<string, unknown> {
    const p = this.props;
    const volumes = new Map<string, kplus.Volume>();
    for (const v of p.volumes ?? []) volumes.set(v.name, v);
    const render = (list: SidecarContainerProps[] | undefined) => list?.map((c) => {
      const container = new kplus.Container(c);
      for (const m of container.mounts) volumes.set(m.volume.name, m.volume);
      const rendered = k8s.toJson_Container(container._toKube()) as Record<string, unknown>;
      // cdk8s-plus gives every container default resources; a resources policy replaces them
      // (Kruise rejects both). Resources the user wrote stay, and the rules report the clash.
      if (c.resourcesPolicy && c.resources === undefined) delete rendered.resources;
      return {
        ...rendered,
        podInjectPolicy: c.podInjectPolicy,
        upgradeStrategy: c.upgrade && { upgradeType: c.upgrade.upgradeType, hotUpgradeEmptyImage: c.upgrade.hotUpgradeEmptyImage },
        shareVolumePolicy: c.shareVolumes === undefined ? undefined : { type: c.shareVolumes ? 'enabled' : 'disabled' },
        shareVolumeDevicePolicy: c.shareVolumeDevices === undefined ? undefined : { type: c.shareVolumeDevices ? 'enabled' : 'disabled' },
        transferEnv: c.transferEnv?.map((t) => ({
          sourceContainerName: t.sourceContainerName,
          sourceContainerNameFrom: t.sourceContainerNameFrom === undefined ? undefined : { fieldRef: { fieldPath: t.sourceContainerNameFrom } },
          envName: t.envName,
          envNames: t.envNames,
        })),
        resourcesPolicy: c.resourcesPolicy && {
          targetContainersMode: c.resourcesPolicy.mode,
          targetContainersNameRegex: c.resourcesPolicy.containers,
          resourcesExpr: { requests: c.resourcesPolicy.requests, limits: c.resourcesPolicy.limits },
        },
      };
    });
    const containers = render(p.containers);
    const initContainers = render(p.initContainers);
    return {
      selector: selectorToKube(p.selector),
      namespaceSelector: p.namespace !== undefined
        ? { matchLabels: { 'kubernetes.io/metadata.name': p.namespace }, ...(selectorToKube(p.namespaceSelector) ?? {}) }
        : selectorToKube(p.namespaceSelector),
      containers,
      initContainers,
      volumes: volumes.size ? [...volumes.values()].map((v) => k8s.toJson_Volume(v._toKube())) : undefined,
      updateStrategy: this.updateStrategy._toKube(),
      injectionStrategy: p.injectionPaused === undefined ? undefined : { paused: p.injectionPaused },
      imagePullSecrets: p.imagePullSecrets?.map((name) => ({ name })),
      revisionHistoryLimit: p.revisionHistoryLimit,
    };
  }
}

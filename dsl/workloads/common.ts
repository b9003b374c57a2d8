/**
 * Building blocks shared by several Kruise workloads: update priorities, scatter rules,
 * lifecycle hooks, in-place update options and volume claim templates.
 */
import { Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import type { IntOrPercent } from '../arithmetic.js';

export type { IntOrPercent } from '../arithmetic.js';

/** Plain label selector, as Kubernetes writes it. */
export interface LabelSelectorSpec {
  readonly matchLabels?: Record<string, string>;
  readonly matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Accepts a cdk8s-plus LabelSelector or a plain `{ matchLabels }` object. */
export type SelectorLike = kplus.LabelSelector | LabelSelectorSpec;

export function selectorToKube(s: SelectorLike | undefined): LabelSelectorSpec | undefined {
  if (s === undefined) return undefined;
  if (s instanceof kplus.LabelSelector) {
    const k = s._toKube();
    return { matchLabels: k.matchLabels, matchExpressions: k.matchExpressions as LabelSelectorSpec['matchExpressions'] };
  }
  return s;
}

/** One weighted rule of a weight priority: pods matching `selector` get `weight` (0..100). */
export interface WeightedSelector {
  readonly weight: number;
  readonly selector: SelectorLike;
}

/**
 * Which pods a release updates first. Weight and order priorities are exclusive in Kruise;
 * the two factories make a mix impossible to write.
 */
export class UpdatePriority {
  /**
   * Pods update in order of their total weight (the sum of the weights of every rule whose
   * selector matches the pod), heaviest first. Pods matching no rule weigh 0.
   * @example UpdatePriority.weight({ weight: 100, selector: { matchLabels: { tier: 'canary' } } })
   */
  static weight(...rules: WeightedSelector[]): UpdatePriority {
    return new UpdatePriority({
      weightPriority: rules.map((r) => ({ weight: r.weight, matchSelector: selectorToKube(r.selector) })),
    });
  }

  /**
   * Pods update in order of an integer label: among pods carrying the first key, the larger
   * number (the digits at the end of the value) first; then pods carrying the second key; and so on.
   * Note Kruise's rule for pods carrying none of the keys: they update before all others.
   * @example UpdatePriority.order('zookeeper.example.com/update-order')
   */
  static order(...orderedKeys: string[]): UpdatePriority {
    return new UpdatePriority({ orderPriority: orderedKeys.map((orderedKey) => ({ orderedKey })) });
  }

  private constructor(private readonly spec: Record<string, unknown>) {}

  /** @internal */
  _toKube(): Record<string, unknown> {
    return this.spec;
  }
}

/**
 * Spread updated pods evenly over pods carrying `key=value`, so that the first updated pods
 * do not all land on, say, the same zone or release group.
 */
export interface ScatterRule {
  readonly key: string;
  readonly value: string;
}

/** A lifecycle hook: what Kruise waits for (labels, finalizers) before it proceeds. */
export interface LifecycleHook {
  /** Kruise proceeds only once these labels are set on the pod (by your controller). */
  readonly labelsHandler?: Record<string, string>;
  /** Kruise proceeds only once these finalizers are removed from the pod. */
  readonly finalizersHandler?: string[];
  /** Mark the pod not-ready while the hook holds it, so traffic drains first. @default false */
  readonly markPodNotReady?: boolean;
}

/** Hooks around pod deletion, in-place update and start-up. */
export interface Lifecycle {
  readonly preDelete?: LifecycleHook;
  readonly inPlaceUpdate?: LifecycleHook;
  readonly preNormal?: LifecycleHook;
}

export function lifecycleToKube(l: Lifecycle | undefined): Record<string, unknown> | undefined {
  if (!l) return undefined;
  const hook = (h: LifecycleHook | undefined) =>
    h && { labelsHandler: h.labelsHandler, finalizersHandler: h.finalizersHandler, markPodNotReady: h.markPodNotReady };
  return { preDelete: hook(l.preDelete), inPlaceUpdate: hook(l.inPlaceUpdate), preNormal: hook(l.preNormal) };
}

/** How a pod is updated when its template changes. */
export enum PodUpdatePolicy {
  /** Delete the old pod and create a new one. */
  RECREATE = 'ReCreate',
  /** Update in place when only images (or metadata) change, recreate otherwise. */
  IN_PLACE_IF_POSSIBLE = 'InPlaceIfPossible',
  /** Only ever update in place; other changes are not rolled out. */
  IN_PLACE_ONLY = 'InPlaceOnly',
}

/**
 * Adds the InPlaceUpdateReady readiness gate that Kruise requires (and, for Advanced
 * StatefulSets, does not add itself) before it updates pods in place.
 */
export function addInPlaceReadinessGate(podSpec: { readinessGates?: { conditionType: string }[] }, policy: string | undefined): void {
  if (policy === undefined || policy === PodUpdatePolicy.RECREATE) return;
  const gates = podSpec.readinessGates ?? [];
  if (!gates.some((g) => g.conditionType === 'InPlaceUpdateReady')) podSpec.readinessGates = [...gates, { conditionType: 'InPlaceUpdateReady' }];
}

/** A PersistentVolumeClaim stamped out per pod. */
export interface VolumeClaimTemplateProps {
  /** Claim name; pods mount it under this volume name. */
  readonly name: string;
  /** Requested size. */
  readonly storage: Size;
  /** @default [ReadWriteOnce] */
  readonly accessModes?: kplus.PersistentVolumeAccessMode[];
  /** @default the cluster's default StorageClass */
  readonly storageClassName?: string;
  /** @default Filesystem */
  readonly volumeMode?: kplus.PersistentVolumeMode;
}

/**
 * Holds the volume claim templates of a workload and hands out volumes that containers can
 * mount. The controller, not the pod template, attaches the claim, so such volumes are left
 * out of the pod spec.
 */
export class VolumeClaimTemplates {
  private readonly templates: VolumeClaimTemplateProps[] = [];

  constructor(private readonly scope: Construct) {}

  add(props: VolumeClaimTemplateProps): kplus.Volume {
    if (this.templates.some((t) => t.name === props.name)) {
      throw new Error(`${this.scope.node.path}: volume claim template "${props.name}" is defined twice`);
    }
    this.templates.push(props);
    const claim = kplus.PersistentVolumeClaim.fromClaimName(this.scope, `VolumeClaimTemplate${props.name}`, props.name);
    return kplus.Volume.fromPersistentVolumeClaim(this.scope, `VolumeClaimTemplateVolume${props.name}`, claim, { name: props.name });
  }

  get names(): string[] {
    return this.templates.map((t) => t.name);
  }

  /** @internal */
  _toKube(): Record<string, unknown>[] | undefined {
    if (this.templates.length === 0) return undefined;
    return this.templates.map((t) => ({
      metadata: { name: t.name },
      spec: {
        accessModes: t.accessModes ?? [kplus.PersistentVolumeAccessMode.READ_WRITE_ONCE],
        storageClassName: t.storageClassName,
        volumeMode: t.volumeMode,
        resources: { requests: { storage: t.storage.asString() } },
      },
    }));
  }

  /** Removes the claim volumes from a pod spec: the controller adds them per pod. */
  stripFrom(podSpec: { volumes?: { name: string }[] }): void {
    if (!podSpec.volumes || this.templates.length === 0) return;
    const names = new Set(this.names);
    podSpec.volumes = podSpec.volumes.filter((v) => !names.has(v.name));
    if (podSpec.volumes.length === 0) delete podSpec.volumes;
  }
}

/** Seconds of a cdk8s Duration, or undefined. */
export function seconds(d: Duration | undefined): number | undefined {
  return d === undefined ? undefined : d.toSeconds();
}

/**
 * Wraps an int-or-percent in its generated L1 class. The L1 classes render `.value` of these
 * wrappers and silently drop plain numbers or strings, so every such field goes through here.
 */
export function ios<T>(cls: { fromNumber(v: number): T; fromString(v: string): T }, v: number | string | undefined): T | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'number' ? cls.fromNumber(v) : cls.fromString(v);
}

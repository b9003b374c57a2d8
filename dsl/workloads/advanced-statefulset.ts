/**
 * Advanced StatefulSet (apps.kruise.io/v1beta1, kind StatefulSet): a StatefulSet with in-place
 * updates, parallel updates with priorities, reserved ordinals and lifecycle hooks.
 */
import { Duration } from 'cdk8s';
import type * as kplus from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import * as kruise from '../imports/apps.kruise.io.js';
import type { IntOrPercent } from '../arithmetic.js';
import { attachRelease, KruiseWorkload, type KruiseWorkloadProps, type ReleasableProps, type VersionedProps } from './base.js';
import {
  addInPlaceReadinessGate, ios, type Lifecycle, lifecycleToKube, PodUpdatePolicy, seconds, UpdatePriority, VolumeClaimTemplates,
  type VolumeClaimTemplateProps,
} from './common.js';

/** Options of a parallel pod management policy: the update and scale knobs Kruise allows only there. */
export interface ParallelOptions {
  /** Most pods unavailable during an update. @default 1 */
  readonly maxUnavailable?: IntOrPercent;
  /** Update pods in priority order instead of by ordinal. @default by ordinal, highest first */
  readonly updatePriority?: UpdatePriority;
  /** Most pods unavailable while scaling. @default unlimited */
  readonly scaleMaxUnavailable?: IntOrPercent;
}

/**
 * How pods are created, deleted and updated relative to each other. Kruise allows a
 * maxUnavailable other than 1, an unordered update priority and a scale maxUnavailable only
 * with Parallel, so those options exist only on `parallel()`.
 */
export class PodManagement {
  /** One pod at a time, in ordinal order, each Ready before the next. Kruise's default. */
  static orderedReady(): PodManagement {
    return new PodManagement('OrderedReady', {});
  }

  /** Pods are created and deleted in parallel; updates honour maxUnavailable and priorities. */
  static parallel(options: ParallelOptions = {}): PodManagement {
    return new PodManagement('Parallel', options);
  }

  private constructor(public readonly policy: 'OrderedReady' | 'Parallel', public readonly options: ParallelOptions) {}
}

export interface StatefulSetRollingUpdateOptions {
  /**
   * Ordinals below this number keep the old revision (an integer: Advanced StatefulSet has no
   * percentage partition). A release plan owns this field once one is attached.
   * @default 0
   */
  readonly partition?: number;
  /** In place or by recreating pods. @default PodUpdatePolicy.RECREATE */
  readonly podUpdatePolicy?: PodUpdatePolicy;
  /** Stop updating pods. @default false */
  readonly paused?: boolean;
  /** Time an updated pod must be ready before the next one updates (0..300 s). @default 0 */
  readonly minReady?: Duration;
  /** Time between marking a pod not-ready and updating it in place. @default 0 */
  readonly inPlaceGracePeriod?: Duration;
}

export class StatefulSetUpdateStrategy {
  /** Update pods when the template changes. Kruise's default. */
  static rollingUpdate(options: StatefulSetRollingUpdateOptions = {}): StatefulSetUpdateStrategy {
    return new StatefulSetUpdateStrategy('RollingUpdate', options);
  }

  /** Update a pod only when it is deleted. */
  static onDelete(): StatefulSetUpdateStrategy {
    return new StatefulSetUpdateStrategy('OnDelete', undefined);
  }

  private constructor(
    public readonly type: 'RollingUpdate' | 'OnDelete',
    public readonly options: StatefulSetRollingUpdateOptions | undefined,
  ) {}
}

/** An ordinal, or an inclusive range written `"3-5"`. */
export type ReservedOrdinal = number | `${number}-${number}`;

export interface AdvancedStatefulSetProps extends KruiseWorkloadProps, ReleasableProps, VersionedProps {
  /** Number of pods. @default 1 */
  readonly replicas?: number;
  /** The governing (usually headless) Service. @default none */
  readonly service?: kplus.Service;
  /** Name of the governing Service, when it is not a construct here. Ignored if `service` is set. */
  readonly serviceName?: string;
  /** @default PodManagement.orderedReady() */
  readonly podManagement?: PodManagement;
  /** @default StatefulSetUpdateStrategy.rollingUpdate() */
  readonly updateStrategy?: StatefulSetUpdateStrategy;
  /** Ordinals never used for pods, e.g. `[1, '3-5']`. @default none */
  readonly reserveOrdinals?: ReservedOrdinal[];
  /** First ordinal (needs Kruise's StatefulSetStartOrdinal feature gate). @default 0 */
  readonly startOrdinal?: number;
  /** Per-pod volume claims. */
  readonly volumeClaimTemplates?: VolumeClaimTemplateProps[];
  /** What happens to claims when the set is deleted or scaled down. @default Retain / Retain */
  readonly volumeClaimRetention?: { readonly whenDeleted?: 'Retain' | 'Delete'; readonly whenScaled?: 'Retain' | 'Delete' };
  /** Lifecycle hooks. */
  readonly lifecycle?: Lifecycle;
  /** Old revisions kept. @default 10 */
  readonly revisionHistoryLimit?: number;
}

export class AdvancedStatefulSet extends KruiseWorkload {
  public readonly resourceType = 'statefulsets';
  public readonly replicas: number;
  public readonly podManagement: PodManagement;
  public readonly updateStrategy: StatefulSetUpdateStrategy;
  private readonly props: AdvancedStatefulSetProps;
  private readonly claims: VolumeClaimTemplates;

  constructor(scope: Construct, id: string, props: AdvancedStatefulSetProps = {}) {
    // v1alpha1 lacks reserveOrdinals, lifecycle, scaleStrategy and PVC retention: the schema flags them there.
    super(scope, id, props, props.apiVersion === 'apps.kruise.io/v1alpha1' ? kruise.StatefulSet : kruise.StatefulSetV1Beta1);
    this.props = props;
    attachRelease(this.apiObject, props.release);
    this.replicas = props.replicas ?? 1;
    this.podManagement = props.podManagement ?? PodManagement.orderedReady();
    this.updateStrategy = props.updateStrategy ?? StatefulSetUpdateStrategy.rollingUpdate();
    this.claims = new VolumeClaimTemplates(this);
    for (const t of props.volumeClaimTemplates ?? []) this.claims.add(t);
  }

  /** Adds a per-pod volume claim and returns a volume that containers can mount. */
  public addVolumeClaimTemplate(props: VolumeClaimTemplateProps): kplus.Volume {
    return this.claims.add(props);
  }

  /** @internal */
  public _toKube(): kruise.StatefulSetV1Beta1Spec {
    const p = this.props;
    const pm = this.podManagement.options;
    const template = this._podTemplate();
    this.claims.stripFrom(template.spec);
    const ru = this.updateStrategy.options;
    addInPlaceReadinessGate(template.spec, ru?.podUpdatePolicy);
    return {
      replicas: this.replicas,
      serviceName: p.service?.name ?? p.serviceName,
      selector: this._toLabelSelector() as kruise.StatefulSetV1Beta1SpecSelector,
      template,
      podManagementPolicy: this.podManagement.policy,
      updateStrategy: {
        type: this.updateStrategy.type,
        rollingUpdate: ru && {
          partition: ru.partition,
          podUpdatePolicy: ru.podUpdatePolicy,
          paused: ru.paused,
          minReadySeconds: seconds(ru.minReady),
          maxUnavailable: ios(kruise.StatefulSetV1Beta1SpecUpdateStrategyRollingUpdateMaxUnavailable, pm.maxUnavailable),
          unorderedUpdate: pm.updatePriority && {
            priorityStrategy: pm.updatePriority._toKube() as kruise.StatefulSetV1Beta1SpecUpdateStrategyRollingUpdateUnorderedUpdatePriorityStrategy,
          },
          inPlaceUpdateStrategy: ru.inPlaceGracePeriod && { gracePeriodSeconds: ru.inPlaceGracePeriod.toSeconds() },
        },
      },
      scaleStrategy: pm.scaleMaxUnavailable !== undefined
        ? { maxUnavailable: ios(kruise.StatefulSetV1Beta1SpecScaleStrategyMaxUnavailable, pm.scaleMaxUnavailable) }
        : undefined,
      reserveOrdinals: p.reserveOrdinals?.map((o) => ios(kruise.StatefulSetV1Beta1SpecReserveOrdinals, o)!),
      ordinals: p.startOrdinal !== undefined ? { start: p.startOrdinal } : undefined,
      volumeClaimTemplates: this.claims._toKube(),
      persistentVolumeClaimRetentionPolicy: p.volumeClaimRetention && { ...p.volumeClaimRetention },
      lifecycle: lifecycleToKube(p.lifecycle) as kruise.StatefulSetV1Beta1SpecLifecycle | undefined,
      revisionHistoryLimit: p.revisionHistoryLimit,
    };
  }
}

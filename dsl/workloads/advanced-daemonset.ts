/**
 * Advanced DaemonSet (apps.kruise.io/v1alpha1, kind DaemonSet): a DaemonSet with in-place
 * updates, surge, partitions, node-selected updates and lifecycle hooks.
 */
import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import * as kruise from '../imports/apps.kruise.io.js';
import type { IntOrPercent } from '../arithmetic.js';
import { attachRelease, KruiseWorkload, type KruiseWorkloadProps, type ReleasableProps, type VersionedProps } from './base.js';
import { ios, type Lifecycle, lifecycleToKube, seconds, type SelectorLike, selectorToKube } from './common.js';

export interface DaemonSetRollingUpdateOptions {
  /** Most nodes whose pod is unavailable during the update. @default 1 */
  readonly maxUnavailable?: IntOrPercent;
  /** Nodes that may run an extra new pod next to the old one during the update. @default 0 */
  readonly maxSurge?: IntOrPercent;
  /**
   * Pods kept at the old revision: a count, or a percentage of desiredNumberScheduled
   * (rounded down). A release plan owns this field once one is attached. @default 0
   */
  readonly partition?: IntOrPercent;
  /** Stop updating pods. @default false */
  readonly paused?: boolean;
  /** Only update pods on nodes with these labels; other nodes keep the old pod. @default all nodes */
  readonly nodeSelector?: SelectorLike;
}

export class DaemonSetUpdateStrategy {
  /** Replace pods node by node (delete and create, or surge first). Kruise's default. */
  static rollingUpdate(options: DaemonSetRollingUpdateOptions = {}): DaemonSetUpdateStrategy {
    return new DaemonSetUpdateStrategy('RollingUpdate', 'Standard', options);
  }

  /** Update pods in place when only images or metadata change; recreate them otherwise. */
  static inPlaceIfPossible(options: DaemonSetRollingUpdateOptions = {}): DaemonSetUpdateStrategy {
    return new DaemonSetUpdateStrategy('RollingUpdate', 'InPlaceIfPossible', options);
  }

  /** Update a pod only when it is deleted. */
  static onDelete(): DaemonSetUpdateStrategy {
    return new DaemonSetUpdateStrategy('OnDelete', undefined, undefined);
  }

  private constructor(
    public readonly type: 'RollingUpdate' | 'OnDelete',
    public readonly rollingUpdateType: 'Standard' | 'InPlaceIfPossible' | undefined,
    public readonly options: DaemonSetRollingUpdateOptions | undefined,
  ) {}

  /** @internal */
  _toKube(): kruise.DaemonSetSpecUpdateStrategy {
    const o = this.options;
    return {
      type: this.type,
      rollingUpdate: o && {
        rollingUpdateType: this.rollingUpdateType,
        maxUnavailable: ios(kruise.DaemonSetSpecUpdateStrategyRollingUpdateMaxUnavailable, o.maxUnavailable),
        maxSurge: ios(kruise.DaemonSetSpecUpdateStrategyRollingUpdateMaxSurge, o.maxSurge),
        partition: ios(kruise.DaemonSetSpecUpdateStrategyRollingUpdatePartition, o.partition),
        paused: o.paused,
        selector: selectorToKube(o.nodeSelector) as kruise.DaemonSetSpecUpdateStrategyRollingUpdateSelector | undefined,
      },
    };
  }
}

export interface AdvancedDaemonSetProps extends KruiseWorkloadProps, ReleasableProps, VersionedProps {
  /** @default DaemonSetUpdateStrategy.rollingUpdate() */
  readonly updateStrategy?: DaemonSetUpdateStrategy;
  /** Most pods created at once on new nodes. @default 250 */
  readonly burstReplicas?: IntOrPercent;
  /** Lifecycle hooks. */
  readonly lifecycle?: Lifecycle;
  /** Time a new pod must be ready before it counts as available. @default 0 */
  readonly minReady?: Duration;
  /** Old revisions kept. @default 10 */
  readonly revisionHistoryLimit?: number;
}

export class AdvancedDaemonSet extends KruiseWorkload {
  public readonly resourceType = 'daemonsets';
  public readonly updateStrategy: DaemonSetUpdateStrategy;
  private readonly props: AdvancedDaemonSetProps;

  constructor(scope: Construct, id: string, props: AdvancedDaemonSetProps = {}) {
    super(scope, id, props, props.apiVersion === 'apps.kruise.io/v1beta1' ? kruise.DaemonSetV1Beta1 : kruise.DaemonSet);
    this.props = props;
    attachRelease(this.apiObject, props.release);
    this.updateStrategy = props.updateStrategy ?? DaemonSetUpdateStrategy.rollingUpdate();
  }

  /** @internal */
  public _toKube(): kruise.DaemonSetSpec {
    const p = this.props;
    return {
      selector: this._toLabelSelector() as kruise.DaemonSetSpecSelector,
      template: this._podTemplate(),
      updateStrategy: this.updateStrategy._toKube(),
      burstReplicas: ios(kruise.DaemonSetSpecBurstReplicas, p.burstReplicas),
      lifecycle: lifecycleToKube(p.lifecycle) as kruise.DaemonSetSpecLifecycle | undefined,
      minReadySeconds: seconds(p.minReady),
      revisionHistoryLimit: p.revisionHistoryLimit,
    };
  }
}

/**
 * CloneSet (apps.kruise.io/v1alpha1): a Deployment with in-place updates, partitions,
 * release priorities and scatter, lifecycle hooks and per-pod volume claims.
 */
import { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import * as kruise from '../imports/apps.kruise.io.js';
import type { IntOrPercent } from '../arithmetic.js';
import { attachRelease, KruiseWorkload, type KruiseWorkloadProps, type ReleasableProps } from './base.js';
import {
  ios, type Lifecycle, lifecycleToKube, type ScatterRule, seconds, UpdatePriority, VolumeClaimTemplates,
  type VolumeClaimTemplateProps,
} from './common.js';
import type * as kplus from 'cdk8s-plus-33';

/** Options shared by every CloneSet update type. */
export interface CloneSetUpdateOptions {
  /**
   * Pods kept at the old revision: a count, or a percentage of replicas (rounded up).
   * A release plan owns this field once one is attached.
   * @default 0 (update every pod)
   */
  readonly partition?: IntOrPercent;
  /** Most pods unavailable during the update. @default "20%" (Kruise's default) */
  readonly maxUnavailable?: IntOrPercent;
  /** Stop updating pods; scaling continues. @default false */
  readonly paused?: boolean;
  /** Which pods update first. @default none: Kruise's default order */
  readonly priority?: UpdatePriority;
  /** Spread updated pods over these label values. @default none */
  readonly scatter?: ScatterRule[];
}

/** Options of update types that may create extra pods during the update. */
export interface CloneSetSurgeOptions extends CloneSetUpdateOptions {
  /** Extra pods created above replicas during the update. @default 0 */
  readonly maxSurge?: IntOrPercent;
}

/** Options of in-place update types. */
export interface CloneSetInPlaceOptions {
  /** Time between marking a pod not-ready and updating it in place. @default 0 */
  readonly gracePeriod?: Duration;
}

/**
 * How a CloneSet replaces pods when the template changes. `inPlaceOnly` has no `maxSurge`
 * option because Kruise rejects surge with in-place-only updates.
 */
export class CloneSetUpdateStrategy {
  /** Delete old pods and create new ones. Kruise's default. */
  static reCreate(options: CloneSetSurgeOptions = {}): CloneSetUpdateStrategy {
    return new CloneSetUpdateStrategy('ReCreate', options);
  }

  /** Update pods in place when only images or metadata change; recreate them otherwise. */
  static inPlaceIfPossible(options: CloneSetSurgeOptions & CloneSetInPlaceOptions = {}): CloneSetUpdateStrategy {
    return new CloneSetUpdateStrategy('InPlaceIfPossible', options);
  }

  /** Only ever update pods in place. */
  static inPlaceOnly(options: CloneSetUpdateOptions & CloneSetInPlaceOptions = {}): CloneSetUpdateStrategy {
    return new CloneSetUpdateStrategy('InPlaceOnly', options);
  }

  private constructor(
    public readonly type: 'ReCreate' | 'InPlaceIfPossible' | 'InPlaceOnly',
    private readonly options: CloneSetSurgeOptions & CloneSetInPlaceOptions,
  ) {}

  /** The partition this strategy was written with (a release plan may override it). */
  get partition(): IntOrPercent | undefined {
    return this.options.partition;
  }

  /** @internal */
  _toKube(): kruise.CloneSetSpecUpdateStrategy {
    const o = this.options;
    return {
      type: this.type,
      partition: ios(kruise.CloneSetSpecUpdateStrategyPartition, o.partition),
      maxUnavailable: ios(kruise.CloneSetSpecUpdateStrategyMaxUnavailable, o.maxUnavailable),
      maxSurge: ios(kruise.CloneSetSpecUpdateStrategyMaxSurge, o.maxSurge),
      paused: o.paused,
      priorityStrategy: o.priority?._toKube() as kruise.CloneSetSpecUpdateStrategyPriorityStrategy | undefined,
      scatterStrategy: o.scatter?.map((s) => ({ key: s.key, value: s.value })),
      inPlaceUpdateStrategy: this.type !== 'ReCreate' && o.gracePeriod !== undefined
        ? { gracePeriodSeconds: o.gracePeriod.toSeconds() } : undefined,
    };
  }
}

/** Scale-time behaviour. */
export interface CloneSetScaleStrategy {
  /** Names of pods to delete first when scaling down (or to replace). */
  readonly podsToDelete?: string[];
  /** Most pods unavailable while scaling up. @default unlimited */
  readonly maxUnavailable?: IntOrPercent;
  /** Do not reuse the PVCs of deleted pods for new pods. @default false */
  readonly disablePvcReuse?: boolean;
}

export interface CloneSetProps extends KruiseWorkloadProps, ReleasableProps {
  /** Number of pods. @default 1 (Kruise's default) */
  readonly replicas?: number;
  /** How pods are replaced on a template change. @default CloneSetUpdateStrategy.reCreate() */
  readonly updateStrategy?: CloneSetUpdateStrategy;
  /** Scale-time behaviour. @default Kruise's defaults */
  readonly scaleStrategy?: CloneSetScaleStrategy;
  /** Lifecycle hooks. @default none */
  readonly lifecycle?: Lifecycle;
  /** Time a new pod must be ready before it counts as available. @default 0 */
  readonly minReady?: Duration;
  /**
   * Time after which a stuck update is reported as ProgressDeadlineExceeded
   * (new in Kruise 1.9; must exceed minReady). @default no deadline
   */
  readonly progressDeadline?: Duration;
  /** Old revisions kept. @default 10 */
  readonly revisionHistoryLimit?: number;
  /** Per-pod volume claims; mount them with the volumes `addVolumeClaimTemplate` returns. */
  readonly volumeClaimTemplates?: VolumeClaimTemplateProps[];
}

export class CloneSet extends KruiseWorkload {
  public readonly resourceType = 'clonesets';
  public readonly replicas: number;
  public readonly updateStrategy: CloneSetUpdateStrategy;
  private readonly props: CloneSetProps;
  private readonly claims: VolumeClaimTemplates;

  constructor(scope: Construct, id: string, props: CloneSetProps = {}) {
    super(scope, id, props, kruise.CloneSet);
    this.props = props;
    attachRelease(this.apiObject, props.release);
    this.replicas = props.replicas ?? 1;
    this.updateStrategy = props.updateStrategy ?? CloneSetUpdateStrategy.reCreate();
    this.claims = new VolumeClaimTemplates(this);
    for (const t of props.volumeClaimTemplates ?? []) this.claims.add(t);
  }

  /** Adds a per-pod volume claim and returns a volume that containers can mount. */
  public addVolumeClaimTemplate(props: VolumeClaimTemplateProps): kplus.Volume {
    return this.claims.add(props);
  }

  /** @internal */
  public _toKube(): kruise.CloneSetSpec {
    const p = this.props;
    const template = this._podTemplate();
    this.claims.stripFrom(template.spec);
    return {
      replicas: this.replicas,
      selector: this._toLabelSelector() as kruise.CloneSetSpecSelector,
      template,
      updateStrategy: this.updateStrategy._toKube(),
      scaleStrategy: p.scaleStrategy && {
        podsToDelete: p.scaleStrategy.podsToDelete,
        maxUnavailable: ios(kruise.CloneSetSpecScaleStrategyMaxUnavailable, p.scaleStrategy.maxUnavailable),
        disablePvcReuse: p.scaleStrategy.disablePvcReuse,
      },
      lifecycle: lifecycleToKube(p.lifecycle) as kruise.CloneSetSpecLifecycle | undefined,
      minReadySeconds: seconds(p.minReady),
      progressDeadlineSeconds: seconds(p.progressDeadline),
      revisionHistoryLimit: p.revisionHistoryLimit,
      volumeClaimTemplates: this.claims._toKube(),
    };
  }
}

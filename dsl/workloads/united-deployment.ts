/**
 * UnitedDeployment (apps.kruise.io/v1alpha1): one workload template stamped out per topology
 * subset (zone, node pool), with replicas split across subsets and a partition per subset.
 */
import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import * as kruise from '../imports/apps.kruise.io.js';
import type { IntOrPercent } from '../arithmetic.js';
import { attachRelease, KruiseWorkload, type KruiseWorkloadProps, type ReleasableProps } from './base.js';
import { CloneSetUpdateStrategy } from './cloneset.js';
import { PodManagement, StatefulSetUpdateStrategy } from './advanced-statefulset.js';
import { addInPlaceReadinessGate, ios, type Lifecycle, lifecycleToKube, seconds } from './common.js';

type Spec = Record<string, unknown>;

/**
 * The kind of workload created per subset. The UnitedDeployment owns each subset's replicas
 * and partition, so the options here have neither.
 */
export class UnitedDeploymentTemplate {
  /** A CloneSet per subset. */
  static cloneSet(options: {
    /** @default CloneSetUpdateStrategy.reCreate() */
    readonly updateStrategy?: CloneSetUpdateStrategy;
    readonly lifecycle?: Lifecycle;
    readonly minReady?: Duration;
  } = {}): UnitedDeploymentTemplate {
    return new UnitedDeploymentTemplate('cloneSetTemplate', () => ({
      updateStrategy: (options.updateStrategy ?? CloneSetUpdateStrategy.reCreate())._toKube(),
      lifecycle: lifecycleToKube(options.lifecycle),
      minReadySeconds: seconds(options.minReady),
    }));
  }

  /** An Advanced StatefulSet per subset. */
  static advancedStatefulSet(options: {
    readonly serviceName?: string;
    /** @default PodManagement.orderedReady() */
    readonly podManagement?: PodManagement;
    /** @default StatefulSetUpdateStrategy.rollingUpdate() */
    readonly updateStrategy?: StatefulSetUpdateStrategy;
    readonly lifecycle?: Lifecycle;
  } = {}): UnitedDeploymentTemplate {
    return new UnitedDeploymentTemplate('advancedStatefulSetTemplate', (podTemplate) => {
      const pm = options.podManagement ?? PodManagement.orderedReady();
      const us = options.updateStrategy ?? StatefulSetUpdateStrategy.rollingUpdate();
      const ru = us.options;
      addInPlaceReadinessGate(podTemplate.spec, ru?.podUpdatePolicy);
      return {
        serviceName: options.serviceName,
        podManagementPolicy: pm.policy,
        updateStrategy: {
          type: us.type,
          rollingUpdate: ru && {
            podUpdatePolicy: ru.podUpdatePolicy,
            paused: ru.paused,
            minReadySeconds: seconds(ru.minReady),
            // Through a wrapper: the generated class drops plain int-or-string values.
            maxUnavailable: ios(kruise.StatefulSetV1Beta1SpecUpdateStrategyRollingUpdateMaxUnavailable, pm.options.maxUnavailable),
            unorderedUpdate: pm.options.updatePriority && { priorityStrategy: pm.options.updatePriority._toKube() },
          },
        },
        lifecycle: lifecycleToKube(options.lifecycle),
      };
    });
  }

  /** A core apps/v1 StatefulSet per subset. */
  static statefulSet(options: { readonly serviceName?: string; readonly podManagementPolicy?: 'OrderedReady' | 'Parallel' } = {}): UnitedDeploymentTemplate {
    return new UnitedDeploymentTemplate('statefulSetTemplate', () => ({
      serviceName: options.serviceName,
      podManagementPolicy: options.podManagementPolicy,
    }));
  }

  /** A core apps/v1 Deployment per subset (note: Deployments have no partition). */
  static deployment(options: { readonly minReady?: Duration; readonly progressDeadline?: Duration } = {}): UnitedDeploymentTemplate {
    return new UnitedDeploymentTemplate('deploymentTemplate', () => ({
      minReadySeconds: seconds(options.minReady),
      progressDeadlineSeconds: seconds(options.progressDeadline),
    }));
  }

  private constructor(
    public readonly field: 'cloneSetTemplate' | 'advancedStatefulSetTemplate' | 'statefulSetTemplate' | 'deploymentTemplate',
    private readonly spec: (podTemplate: { spec: any }) => Spec,
  ) {}

  /** @internal */
  _toKube(podTemplate: { metadata: any; spec: any }, selector: unknown): kruise.UnitedDeploymentSpecTemplate {
    // The subset spec carries the UnitedDeployment's selector although Kruise replaces it with
    // its own (this selector plus the subset label) in every subset it creates: the CRD requires
    // cloneSetTemplate.spec.selector and advancedStatefulSetTemplate.spec.selector, and the
    // apiserver rejects a template without one. The other two templates get it the same way,
    // as Kruise's documentation writes them.
    return {
      [this.field]: {
        metadata: { labels: podTemplate.metadata?.labels },
        spec: { selector, template: podTemplate, ...this.spec(podTemplate) },
      },
    } as kruise.UnitedDeploymentSpecTemplate;
  }
}

interface SubsetBase<N extends string> {
  /** Subset name (a DNS label); unique within the UnitedDeployment. */
  readonly name: N;
  /** Node labels the subset's pods are bound to (all must match). */
  readonly nodeSelector?: kplus.NodeLabelQuery[];
  /** Taints the subset's pods tolerate. */
  readonly tolerations?: kplus.NodeTaintQuery[];
  /** Strategic-merge patch applied to this subset's workload, e.g. other resources per zone. */
  readonly patch?: Record<string, unknown>;
}

/**
 * One topology subset. Either fixed `replicas` (a count, or a percentage of the
 * UnitedDeployment's replicas; unset = share of the remainder) or adaptive min/max bounds:
 * Kruise rejects both together, and so do the types.
 */
export type Subset<N extends string = string> = SubsetBase<N> & (
  | { readonly replicas?: IntOrPercent; readonly minReplicas?: undefined; readonly maxReplicas?: undefined }
  | { readonly replicas?: undefined; readonly minReplicas?: IntOrPercent; readonly maxReplicas?: IntOrPercent }
);

export interface UnitedDeploymentProps<N extends string> extends KruiseWorkloadProps, ReleasableProps {
  /**
   * Total pods over all subsets. @default the sum of the subsets' replicas when every subset
   * has an integer count (Kruise itself would default to 1)
   */
  readonly replicas?: number;
  /** @default UnitedDeploymentTemplate.cloneSet() */
  readonly template?: UnitedDeploymentTemplate;
  /** The topology subsets, in order. */
  readonly subsets: readonly Subset<N>[];
  /**
   * Pods kept at the old revision per subset (counts). Only names from `subsets` compile.
   * A release plan owns these once one is attached. @default none
   */
  readonly partitions?: Partial<Record<NoInfer<N>, number>>;
  /** Move pods that cannot schedule to other subsets. @default fixed */
  readonly adaptiveScheduling?: {
    /** Time a pod may stay pending before it is rescheduled elsewhere. */
    readonly rescheduleCritical?: Duration;
    /** Time a subset is considered unschedulable after a failure. */
    readonly unschedulableDuration?: Duration;
  };
  /** Old revisions kept. @default 10 */
  readonly revisionHistoryLimit?: number;
}

export class UnitedDeployment<N extends string = string> extends KruiseWorkload {
  public readonly resourceType = 'uniteddeployments';
  public readonly replicas: number | undefined;
  public readonly template: UnitedDeploymentTemplate;
  public readonly subsets: readonly Subset<N>[];
  private readonly partitions: Map<string, number>;
  private readonly props: UnitedDeploymentProps<N>;

  constructor(scope: Construct, id: string, props: UnitedDeploymentProps<N>) {
    super(scope, id, props, kruise.UnitedDeployment);
    this.props = props;
    attachRelease(this.apiObject, props.release);
    const counts = props.subsets.map((s) => s.replicas);
    this.replicas = props.replicas
      ?? (counts.length > 0 && counts.every((c) => typeof c === 'number') ? (counts as number[]).reduce((a, b) => a + b, 0) : undefined);
    this.template = props.template ?? UnitedDeploymentTemplate.cloneSet();
    this.subsets = props.subsets;
    this.partitions = new Map(Object.entries(props.partitions ?? {}) as [string, number][]);
  }

  /** Sets the partition of one subset (pods kept at the old revision). */
  public setPartition(subset: N, partition: number): void {
    this.partitions.set(subset, partition);
  }

  /** @internal */
  public _toKube(): kruise.UnitedDeploymentSpec {
    const p = this.props;
    const selector = this._toLabelSelector();
    const adaptive = p.adaptiveScheduling;
    return {
      replicas: this.replicas,
      selector: selector as kruise.UnitedDeploymentSpecSelector,
      template: this.template._toKube(this._podTemplate(), selector),
      topology: {
        subsets: this.subsets.map((s) => ({
          name: s.name,
          nodeSelectorTerm: s.nodeSelector?.length
            ? k8s.toJson_NodeSelectorTerm({ matchExpressions: s.nodeSelector.map((q) => q._toKube()) }) as kruise.UnitedDeploymentSpecTopologySubsetsNodeSelectorTerm
            : undefined,
          tolerations: s.tolerations?.map((t) => k8s.toJson_Toleration(t._toKube()) as kruise.UnitedDeploymentSpecTopologySubsetsTolerations),
          replicas: ios(kruise.UnitedDeploymentSpecTopologySubsetsReplicas, s.replicas),
          minReplicas: ios(kruise.UnitedDeploymentSpecTopologySubsetsMinReplicas, s.minReplicas),
          maxReplicas: ios(kruise.UnitedDeploymentSpecTopologySubsetsMaxReplicas, s.maxReplicas),
          patch: s.patch,
        })),
        scheduleStrategy: adaptive && {
          type: kruise.UnitedDeploymentSpecTopologyScheduleStrategyType.ADAPTIVE,
          adaptive: {
            rescheduleCriticalSeconds: seconds(adaptive.rescheduleCritical),
            unschedulableDuration: seconds(adaptive.unschedulableDuration),
          },
        },
      },
      updateStrategy: this.partitions.size
        ? { type: 'Manual', manualUpdate: { partitions: Object.fromEntries(this.partitions) } }
        : undefined,
      revisionHistoryLimit: p.revisionHistoryLimit,
    };
  }
}

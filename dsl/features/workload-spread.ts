/**
 * WorkloadSpread (apps.kruise.io/v1alpha1): spreads the pods of one workload over subsets of
 * nodes (zones, node pools, spot and on-demand), each with its own node selector, tolerations,
 * pod patch and a cap on its pods. Kruise's pod webhook places each new pod in a subset, so the
 * workload itself is not changed. Needs the WorkloadSpread feature gate (on by default).
 */
import { Construct } from 'constructs';
import * as kruise from '../imports/apps.kruise.io.js';
import type { IntOrPercent } from '../arithmetic.js';
import { KruiseObject, type KruiseObjectProps, type Targetable, targetRef } from './base.js';

/** A node selector requirement, as in a pod's nodeAffinity. */
export interface NodeSelectorRequirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';
  readonly values?: string[];
}

export interface SpreadSubsetProps {
  /** Unique among the subsets. */
  readonly name: string;
  /**
   * Nodes this subset's pods must run on. Shorthand: a map of node labels, each `In` its value.
   * @default any node
   */
  readonly requiredNodeSelector?: Record<string, string> | NodeSelectorRequirement[];
  /** Nodes this subset's pods prefer, with weights 1..100. @default none */
  readonly preferredNodeSelector?: { weight: number; match: Record<string, string> | NodeSelectorRequirement[] }[];
  /** Tolerations added to this subset's pods (for tainted node pools). @default none */
  readonly tolerations?: Toleration[];
  /**
   * Most pods in this subset: a count, or a percentage of the workload's replicas. All subsets
   * use the same type; percentages add up to 100%; a StatefulSet takes counts only.
   * @default no cap (the last subset usually has none, to take the rest)
   */
  readonly maxReplicas?: IntOrPercent;
  /** A strategic merge patch applied to this subset's pods (labels, resources, env). @default none */
  readonly patch?: Record<string, unknown>;
}

export interface Toleration {
  readonly key?: string;
  readonly operator?: 'Exists' | 'Equal';
  readonly value?: string;
  readonly effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  readonly tolerationSeconds?: number;
}

/** How a pod is placed when its subset has no room on a node. */
export class SpreadStrategy {
  /** A pod stays in the subset it was placed in, even when it cannot be scheduled there. Kruise's default. */
  static fixed(): SpreadStrategy {
    return new SpreadStrategy({ type: 'Fixed' });
  }

  /**
   * A pod that cannot be scheduled in its subset moves to the next one.
   * @param options.rescheduleCritical how long a pod may stay unschedulable before it moves
   *   (at most 295 s divided by one less than the number of subsets) @default 30 s
   * @param options.disableSimulationSchedule place pods without checking the subset's free capacity @default false
   */
  static adaptive(options: { rescheduleCriticalSeconds?: number; disableSimulationSchedule?: boolean } = {}): SpreadStrategy {
    return new SpreadStrategy({ type: 'Adaptive', adaptive: { ...options } });
  }

  private constructor(private readonly spec: Record<string, unknown>) {}

  /** @internal */
  _toKube(): Record<string, unknown> {
    return this.spec;
  }
}

export interface WorkloadSpreadProps extends KruiseObjectProps {
  /**
   * The workload whose pods are spread: a CloneSet, Deployment, ReplicaSet, Job, or a StatefulSet
   * (apps/v1 or Advanced). Kruise allows one WorkloadSpread per workload.
   */
  readonly target: Targetable;
  /** At least one subset, in order of preference. */
  readonly subsets: SpreadSubsetProps[];
  /** @default SpreadStrategy.fixed() */
  readonly strategy?: SpreadStrategy;
}

/** The `requiredNodeSelectorTerm` of a subset. */
function nodeSelectorTerm(s: Record<string, string> | NodeSelectorRequirement[]): Record<string, unknown> {
  const matchExpressions = Array.isArray(s)
    ? s.map((r) => ({ key: r.key, operator: r.operator, values: r.values }))
    : Object.entries(s).map(([key, value]) => ({ key, operator: 'In', values: [value] }));
  return { matchExpressions };
}

export class WorkloadSpread extends KruiseObject {
  private readonly props: WorkloadSpreadProps;

  constructor(scope: Construct, id: string, props: WorkloadSpreadProps) {
    super(scope, id, kruise.WorkloadSpread.GVK, props);
    this.props = props;
  }

  /** @internal */
  public _toKube(): Record<string, unknown> {
    const p = this.props;
    return {
      targetRef: targetRef(p.target),
      subsets: p.subsets.map((s) => ({
        name: s.name,
        requiredNodeSelectorTerm: s.requiredNodeSelector && nodeSelectorTerm(s.requiredNodeSelector),
        preferredNodeSelectorTerms: s.preferredNodeSelector?.map((t) => ({ weight: t.weight, preference: nodeSelectorTerm(t.match) })),
        tolerations: s.tolerations?.map((t) => ({ ...t })),
        maxReplicas: s.maxReplicas,
        patch: s.patch,
      })),
      scheduleStrategy: p.strategy?._toKube(),
    };
  }
}

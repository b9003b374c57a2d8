/**
 * PersistentPodState (apps.kruise.io/v1alpha1): keeps a StatefulSet's pods on the same nodes (or
 * zones) and with the same annotations across recreation, e.g. for local disks or a fixed IP.
 */
import { Construct } from 'constructs';
import * as kruise from '../imports/apps.kruise.io.js';
import { KruiseObject, type KruiseObjectProps, type Targetable, targetRef } from './base.js';

/** When the recorded state of a pod is dropped. */
export enum PodStateRetention {
  /** When the StatefulSet scales in and the pod is gone. Kruise's default. */
  WHEN_SCALED = 'WhenScaled',
  /** Only when the StatefulSet is deleted. */
  WHEN_DELETED = 'WhenDeleted',
}

export interface PersistentPodStateProps extends KruiseObjectProps {
  /** A StatefulSet (apps/v1) or Advanced StatefulSet; Kruise allows one PersistentPodState per workload. */
  readonly target: Targetable;
  /**
   * Node labels a recreated pod must match again (e.g. `kubernetes.io/hostname` for the same
   * node). At least one of requiredTopology and preferredTopology is needed.
   */
  readonly requiredTopology?: string[];
  /** Node labels a recreated pod prefers to match again, weighted 1..100. */
  readonly preferredTopology?: { weight: number; nodeTopologyKeys: string[] }[];
  /** Pod annotations kept across recreation. @default none */
  readonly persistentAnnotations?: string[];
  /** @default PodStateRetention.WHEN_SCALED */
  readonly retention?: PodStateRetention;
}

export class PersistentPodState extends KruiseObject {
  private readonly props: PersistentPodStateProps;

  constructor(scope: Construct, id: string, props: PersistentPodStateProps) {
    super(scope, id, kruise.PersistentPodState.GVK, props);
    this.props = props;
  }

  /** @internal */
  public _toKube(): Record<string, unknown> {
    const p = this.props;
    return {
      targetRef: targetRef(p.target),
      requiredPersistentTopology: p.requiredTopology && { nodeTopologyKeys: p.requiredTopology },
      preferredPersistentTopology: p.preferredTopology?.map((t) => ({ weight: t.weight, preference: { nodeTopologyKeys: t.nodeTopologyKeys } })),
      persistentPodAnnotations: p.persistentAnnotations?.map((key) => ({ key })),
      persistentPodStateRetentionPolicy: p.retention,
    };
  }
}

/**
 * PodUnavailableBudget (policy.kruise.io/v1alpha1): Kruise's disruption budget. Unlike a
 * PodDisruptionBudget it also holds back in-place updates and deletions, not only evictions.
 */
import { Construct } from 'constructs';
import * as kruisePolicy from '../imports/policy.kruise.io.js';
import type { IntOrPercent } from '../arithmetic.js';
import { type SelectorLike, selectorToKube } from '../workloads/common.js';
import { KruiseObject, type KruiseObjectProps, type Targetable, targetRef } from './base.js';

/** The operations a budget holds back (annotation kruise.io/pub-protect-operations). */
export enum ProtectedOperation {
  DELETE = 'DELETE',
  EVICT = 'EVICT',
  /** In-place updates (Kruise's UPDATE; needs the PodUnavailableBudgetUpdateGate feature gate). */
  UPDATE = 'UPDATE',
  RESIZE = 'RESIZE',
}

/** How many pods may be unavailable: one of the two, as Kruise takes one. */
export type Budget = { readonly maxUnavailable: IntOrPercent; readonly minAvailable?: undefined }
  | { readonly minAvailable: IntOrPercent; readonly maxUnavailable?: undefined };

export type PodUnavailableBudgetProps = KruiseObjectProps & Budget & {
  /** Operations held back. @default Kruise's: DELETE, EVICT (and UPDATE when its gate is on) */
  readonly protect?: ProtectedOperation[];
} & (
  /** The workload whose pods are covered (its replicas count as the total). */
  | { readonly target: Targetable; readonly selector?: undefined }
  /** Pods covered by label. */
  | { readonly selector: SelectorLike; readonly target?: undefined }
);

export class PodUnavailableBudget extends KruiseObject {
  private readonly props: PodUnavailableBudgetProps;

  constructor(scope: Construct, id: string, props: PodUnavailableBudgetProps) {
    super(scope, id, kruisePolicy.PodUnavailableBudget.GVK, props);
    this.props = props;
    if (props.protect) this.apiObject.metadata.addAnnotation('kruise.io/pub-protect-operations', props.protect.join(','));
  }

  /** @internal */
  public _toKube(): Record<string, unknown> {
    const p = this.props;
    return {
      targetRef: p.target && targetRef(p.target),
      selector: selectorToKube(p.selector),
      maxUnavailable: p.maxUnavailable,
      minAvailable: p.minAvailable,
    };
  }
}

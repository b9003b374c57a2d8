/**
 * ImagePullJob and ImageListPullJob (apps.kruise.io/v1alpha1, v1beta1 since Kruise 1.9): pull
 * images onto nodes ahead of time, so that a release or a scale-out does not wait for the
 * registry. Kruise's daemon does the pulling; needs the ImagePullJobGate feature gate (on in the
 * Helm chart's defaults).
 */
import type { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import * as kruise from '../imports/apps.kruise.io.js';
import { type SelectorLike, selectorToKube } from '../workloads/common.js';
import { KruiseObject, type KruiseObjectProps } from './base.js';

/** Which nodes pull. */
export class PullNodes {
  /** Every node. Kruise's default. */
  static all(): PullNodes {
    return new PullNodes(undefined, undefined);
  }

  /** These nodes, by name. */
  static named(...names: string[]): PullNodes {
    return new PullNodes({ names }, undefined);
  }

  /** Nodes with these labels. */
  static labelled(selector: SelectorLike): PullNodes {
    return new PullNodes(selectorToKube(selector), undefined);
  }

  /** The nodes that run pods matching this selector (e.g. a workload's pods, before its release). */
  static runningPods(selector: SelectorLike): PullNodes {
    return new PullNodes(undefined, selectorToKube(selector));
  }

  private constructor(readonly selector: object | undefined, readonly podSelector: object | undefined) {}
}

/** When the job counts as finished. */
export class PullCompletion {
  /**
   * When every selected node has pulled (or failed). Kruise's default.
   * @param options.activeDeadline fail the job after this long (at least the pull timeout)
   * @param options.ttlAfterFinished delete the job this long after it finished
   */
  static always(options: { activeDeadline?: Duration; ttlAfterFinished?: Duration } = {}): PullCompletion {
    return new PullCompletion({ type: 'Always', activeDeadlineSeconds: options.activeDeadline?.toSeconds(), ttlSecondsAfterFinished: options.ttlAfterFinished?.toSeconds() });
  }

  /** Never: nodes that join later pull too, for as long as the job exists. */
  static never(): PullCompletion {
    return new PullCompletion({ type: 'Never' });
  }

  private constructor(readonly spec: Record<string, unknown>) {}
}

export type ImagePullJobApiVersion = 'apps.kruise.io/v1alpha1' | 'apps.kruise.io/v1beta1';

/** What ImagePullJob and ImageListPullJob share. */
export interface PullJobOptions extends KruiseObjectProps {
  /** @default PullNodes.all() */
  readonly nodes?: PullNodes;
  /** Nodes pulling at once (0 pauses the job). @default 1 */
  readonly parallelism?: number;
  /** Timeout of one pull on one node. @default 10 minutes */
  readonly pullTimeout?: Duration;
  /** Retries of a failed pull on a node. @default 3 */
  readonly backoffLimit?: number;
  /** @default PullCompletion.always() */
  readonly completion?: PullCompletion;
  /** Secrets (in the job's namespace) with credentials for the registry. @default none */
  readonly pullSecrets?: string[];
  /** Pull even when the node has the image. @default 'IfNotPresent' */
  readonly imagePullPolicy?: 'Always' | 'IfNotPresent';
  /** Labels and annotations of the pod sandbox the pull runs in (for CRI-level policies). @default none */
  readonly sandboxConfig?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  /** @default 'apps.kruise.io/v1alpha1' */
  readonly apiVersion?: ImagePullJobApiVersion;
}

function pullSpec(o: PullJobOptions): Record<string, unknown> {
  const nodes = o.nodes ?? PullNodes.all();
  return {
    selector: nodes.selector,
    podSelector: nodes.podSelector,
    parallelism: o.parallelism,
    pullPolicy: o.pullTimeout || o.backoffLimit !== undefined
      ? { timeoutSeconds: o.pullTimeout?.toSeconds(), backoffLimit: o.backoffLimit }
      : undefined,
    completionPolicy: (o.completion ?? PullCompletion.always()).spec,
    pullSecrets: o.pullSecrets,
    imagePullPolicy: o.imagePullPolicy,
    sandboxConfig: o.sandboxConfig,
  };
}

export interface ImagePullJobProps extends PullJobOptions {
  /** The image, with a tag or digest (`registry.example.com/shop/storefront:2.15.0`). */
  readonly image: string;
}

export class ImagePullJob extends KruiseObject {
  private readonly props: ImagePullJobProps;

  constructor(scope: Construct, id: string, props: ImagePullJobProps) {
    super(scope, id, props.apiVersion === 'apps.kruise.io/v1beta1' ? kruise.ImagePullJobV1Beta1.GVK : kruise.ImagePullJob.GVK, props);
    this.props = props;
  }

  /** @internal */
  public _toKube(): Record<string, unknown> {
    return { image: this.props.image, ...pullSpec(this.props) };
  }
}

export interface ImageListPullJobProps extends PullJobOptions {
  /** The images (at most 255, no duplicates); Kruise creates one ImagePullJob per image. */
  readonly images: string[];
}

export class ImageListPullJob extends KruiseObject {
  private readonly props: ImageListPullJobProps;

  constructor(scope: Construct, id: string, props: ImageListPullJobProps) {
    super(scope, id, props.apiVersion === 'apps.kruise.io/v1beta1' ? kruise.ImageListPullJobV1Beta1.GVK : kruise.ImageListPullJob.GVK, props);
    this.props = props;
  }

  /** @internal */
  public _toKube(): Record<string, unknown> {
    return { images: [...this.props.images], ...pullSpec(this.props) };
  }
}

/** The spec of an ImageListPullJob, for AdvancedCronJob's imageListPullJobTemplate. @internal */
export function imageListPullJobSpec(props: Omit<ImageListPullJobProps, 'metadata' | 'apiVersion'>): Record<string, unknown> {
  return { images: [...props.images], ...pullSpec(props) };
}

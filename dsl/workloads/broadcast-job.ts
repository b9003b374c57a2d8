/**
 * BroadcastJob (apps.kruise.io/v1alpha1): runs a pod to completion on every matching node,
 * like a DaemonSet that finishes.
 */
import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import * as kruise from '../imports/apps.kruise.io.js';
import type { IntOrPercent } from '../arithmetic.js';
import { KruiseWorkload, type KruiseWorkloadProps, type VersionedProps } from './base.js';
import { ios } from './common.js';

/**
 * When the job counts as finished. TTL and active deadline only make sense for a job that
 * completes, so `never()` takes no options.
 */
export class CompletionPolicy {
  /** Finished once every node's pod finished. Kruise's default. */
  static always(options: {
    /** Delete the job this long after it finished. @default kept */
    readonly ttlAfterFinished?: Duration;
    /** Fail the job if it runs longer than this. @default no deadline */
    readonly activeDeadline?: Duration;
  } = {}): CompletionPolicy {
    return new CompletionPolicy('Always', options.ttlAfterFinished, options.activeDeadline);
  }

  /** Never finished: keeps running pods on nodes that join later. */
  static never(): CompletionPolicy {
    return new CompletionPolicy('Never', undefined, undefined);
  }

  private constructor(
    public readonly type: 'Always' | 'Never',
    public readonly ttlAfterFinished: Duration | undefined,
    public readonly activeDeadline: Duration | undefined,
  ) {}

  /** @internal */
  _toKube(): kruise.BroadcastJobSpecCompletionPolicy {
    return {
      type: this.type,
      ttlSecondsAfterFinished: this.ttlAfterFinished?.toSeconds(),
      activeDeadlineSeconds: this.activeDeadline?.toSeconds(),
    };
  }
}

/** What happens when pods fail. */
export class FailurePolicy {
  /** Fail the job at the first failed pod. Kruise's default. */
  static failFast(): FailurePolicy {
    return new FailurePolicy('FailFast', undefined);
  }

  /** Keep going; the job ends failed if any pod failed. */
  static continue(): FailurePolicy {
    return new FailurePolicy('Continue', undefined);
  }

  /** Pause the job at the first failed pod. */
  static pause(): FailurePolicy {
    return new FailurePolicy('Pause', undefined);
  }

  /** @param restartLimit retries per node before a pod counts as failed */
  withRestartLimit(restartLimit: number): FailurePolicy {
    return new FailurePolicy(this.type, restartLimit);
  }

  private constructor(public readonly type: 'FailFast' | 'Continue' | 'Pause', public readonly restartLimit: number | undefined) {}

  /** @internal */
  _toKube(): kruise.BroadcastJobSpecFailurePolicy {
    return { type: this.type, restartLimit: this.restartLimit };
  }
}

/** The BroadcastJob-specific options, shared with AdvancedCronJob's broadcast template. */
export interface BroadcastJobOptions {
  /** Pods running at once: a count or a percentage of nodes. @default unlimited */
  readonly parallelism?: IntOrPercent;
  /** @default CompletionPolicy.always() */
  readonly completionPolicy?: CompletionPolicy;
  /** @default FailurePolicy.failFast() */
  readonly failurePolicy?: FailurePolicy;
  /** Do not start new pods. @default false */
  readonly paused?: boolean;
}

export interface BroadcastJobProps extends KruiseWorkloadProps, BroadcastJobOptions, VersionedProps {}

type Wrapper<T> = { fromNumber(v: number): T; fromString(v: string): T };

/**
 * Renders a BroadcastJob spec; used by BroadcastJob and by AdvancedCronJob's broadcast template,
 * whose generated types each have their own int-or-string wrapper class.
 */
export function broadcastJobSpec<P>(options: BroadcastJobOptions, template: unknown, parallelism: Wrapper<P>) {
  return {
    parallelism: ios(parallelism, options.parallelism),
    completionPolicy: options.completionPolicy?._toKube(),
    failurePolicy: options.failurePolicy?._toKube(),
    paused: options.paused,
    template,
  };
}

export class BroadcastJob extends KruiseWorkload {
  public readonly resourceType = 'broadcastjobs';
  private readonly props: BroadcastJobProps;

  constructor(scope: Construct, id: string, props: BroadcastJobProps = {}) {
    // Job pods must not restart forever: default to Never as cdk8s-plus Job does.
    super(scope, id, { restartPolicy: kplus.RestartPolicy.NEVER, ...props }, props.apiVersion === 'apps.kruise.io/v1beta1' ? kruise.BroadcastJobV1Beta1 : kruise.BroadcastJob);
    this.props = props;
  }

  /** @internal */
  public _toKube(): kruise.BroadcastJobSpec {
    return broadcastJobSpec(this.props, this._podTemplate(), kruise.BroadcastJobSpecParallelism);
  }
}

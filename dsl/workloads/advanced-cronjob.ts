/**
 * AdvancedCronJob (apps.kruise.io/v1alpha1 or v1beta1): a CronJob whose template is a Job, a
 * BroadcastJob or an ImageListPullJob, so "run this on every node, nightly" is one object.
 */
import { Cron, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import * as kruise from '../imports/apps.kruise.io.js';
import { imageListPullJobSpec, type ImageListPullJobProps } from '../features/image-pull-job.js';
import { KruiseWorkload, type KruiseWorkloadProps, type VersionedProps } from './base.js';
import { broadcastJobSpec, type BroadcastJobOptions } from './broadcast-job.js';

/** Options of a plain Job template. */
export interface CronJobJobOptions {
  /** Retries before the job fails. @default 6 (Kubernetes' default) */
  readonly backoffLimit?: number;
  /** Fail the job if it runs longer than this. @default no deadline */
  readonly activeDeadline?: Duration;
  /** Delete the job this long after it finished. @default kept */
  readonly ttlAfterFinished?: Duration;
  /** Pods running at once. @default 1 */
  readonly parallelism?: number;
  /** Successful pods needed. @default 1 */
  readonly completions?: number;
}

/** What each scheduled run creates. */
export class CronJobTemplate {
  /** A batch/v1 Job. */
  static job(options: CronJobJobOptions = {}): CronJobTemplate {
    return new CronJobTemplate('Job', options);
  }

  /** A Kruise BroadcastJob: the pod runs on every matching node (the cron broadcast job). */
  static broadcastJob(options: BroadcastJobOptions = {}): CronJobTemplate {
    return new CronJobTemplate('BroadcastJob', options);
  }

  /**
   * A Kruise ImageListPullJob: pulls images onto nodes on a schedule (e.g. tonight's release
   * images, or base images on nodes that joined today). Needs apiVersion v1beta1, which the
   * AdvancedCronJob then uses, and no containers.
   */
  static imageListPullJob(options: Omit<ImageListPullJobProps, 'metadata' | 'apiVersion'>): CronJobTemplate {
    return new CronJobTemplate('ImageListPullJob', options);
  }

  private constructor(
    public readonly kind: 'Job' | 'BroadcastJob' | 'ImageListPullJob',
    private readonly options: CronJobJobOptions | BroadcastJobOptions | Omit<ImageListPullJobProps, 'metadata' | 'apiVersion'>,
  ) {}

  /** @internal */
  _toKube(podTemplate: () => unknown): kruise.AdvancedCronJobSpecTemplate | Record<string, unknown> {
    if (this.kind === 'ImageListPullJob') {
      return { imageListPullJobTemplate: { spec: imageListPullJobSpec(this.options as ImageListPullJobProps) } };
    }
    if (this.kind === 'BroadcastJob') {
      return {
        broadcastJobTemplate: {
          spec: broadcastJobSpec(this.options as BroadcastJobOptions, podTemplate(),
            kruise.AdvancedCronJobSpecTemplateBroadcastJobTemplateSpecParallelism),
        },
      };
    }
    const o = this.options as CronJobJobOptions;
    return {
      jobTemplate: {
        spec: {
          template: podTemplate(),
          backoffLimit: o.backoffLimit,
          activeDeadlineSeconds: o.activeDeadline?.toSeconds(),
          ttlSecondsAfterFinished: o.ttlAfterFinished?.toSeconds(),
          parallelism: o.parallelism,
          completions: o.completions,
        },
      },
    };
  }
}

export enum ConcurrencyPolicy {
  /** Runs may overlap. Kruise's default. */
  ALLOW = 'Allow',
  /** Skip a run while the previous one is still active. */
  FORBID = 'Forbid',
  /** Replace the active run with the new one. */
  REPLACE = 'Replace',
}

export interface AdvancedCronJobProps extends KruiseWorkloadProps, VersionedProps {
  /**
   * When to run: a five-field cron expression (`"0 3 * * *"`), a descriptor (`"@daily"`), or a
   * cdk8s `Cron`. Checked at synth time.
   */
  readonly schedule: string | Cron;
  /** IANA time zone of the schedule, e.g. `"Europe/Berlin"`. @default the controller's (UTC) */
  readonly timeZone?: string;
  /** What each run creates. */
  readonly template: CronJobTemplate;
  /** @default ConcurrencyPolicy.ALLOW */
  readonly concurrencyPolicy?: ConcurrencyPolicy;
  /** A run that could not start within this time of its schedule is skipped. @default no limit */
  readonly startingDeadline?: Duration;
  /** Finished successful runs kept. @default 3 */
  readonly successfulJobsRetained?: number;
  /** Finished failed runs kept. @default 1 */
  readonly failedJobsRetained?: number;
  /** Stop scheduling runs. @default false */
  readonly paused?: boolean;
}

export class AdvancedCronJob extends KruiseWorkload {
  public readonly resourceType = 'advancedcronjobs';
  public readonly schedule: string;
  private readonly props: AdvancedCronJobProps;

  constructor(scope: Construct, id: string, props: AdvancedCronJobProps) {
    const v1beta1 = props.apiVersion === 'apps.kruise.io/v1beta1' || props.template.kind === 'ImageListPullJob';
    if (props.template.kind === 'ImageListPullJob' && props.apiVersion === 'apps.kruise.io/v1alpha1') {
      throw new Error(`${scope.node.path}/${id}: an imageListPullJob template needs apiVersion apps.kruise.io/v1beta1 (leave apiVersion unset)`);
    }
    super(scope, id, { restartPolicy: kplus.RestartPolicy.NEVER, ...props }, v1beta1 ? kruise.AdvancedCronJobV1Beta1 : kruise.AdvancedCronJob);
    this.props = props;
    this.schedule = typeof props.schedule === 'string' ? props.schedule : props.schedule.expressionString;
  }

  /** @internal */
  public _toKube(): kruise.AdvancedCronJobSpec {
    const p = this.props;
    return {
      schedule: this.schedule,
      timeZone: p.timeZone,
      concurrencyPolicy: p.concurrencyPolicy as kruise.AdvancedCronJobSpecConcurrencyPolicy | undefined,
      startingDeadlineSeconds: p.startingDeadline?.toSeconds(),
      successfulJobsHistoryLimit: p.successfulJobsRetained,
      failedJobsHistoryLimit: p.failedJobsRetained,
      paused: p.paused,
      template: p.template._toKube(() => this._podTemplate()) as kruise.AdvancedCronJobSpecTemplate,
    };
  }
}

/**
 * EphemeralJob (apps.kruise.io/v1alpha1): adds ephemeral containers (a debugger, a profiler, a
 * one-off diagnostic) to running pods chosen by label, a given number at a time.
 */
import type { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import * as kruise from '../imports/apps.kruise.io.js';
import { type SelectorLike, selectorToKube } from '../workloads/common.js';
import { KruiseObject, type KruiseObjectProps } from './base.js';

/**
 * An ephemeral container. Kubernetes allows only these fields on one (no ports, probes,
 * resources or lifecycle).
 */
export interface EphemeralContainerProps {
  /** A DNS label, unique among the pod's containers. */
  readonly name: string;
  readonly image: string;
  readonly command?: string[];
  readonly args?: string[];
  readonly workingDir?: string;
  /** Plain environment variables. @default none */
  readonly env?: Record<string, string>;
  /** Share the process namespace of this container of the pod (for debuggers). @default none */
  readonly targetContainerName?: string;
  /** Mounts of volumes the pod already has (no subPath). @default none */
  readonly volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  /** @default 'IfNotPresent' (Kruise has no default: its webhook requires one) */
  readonly imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** The container's security context, in Kubernetes' field names. @default none */
  readonly securityContext?: Record<string, unknown>;
  /** Keep stdin open and allocate a TTY, for `kubectl attach`. @default false */
  readonly interactive?: boolean;
}

export interface EphemeralJobProps extends KruiseObjectProps {
  /** Pods to add the containers to, in the job's namespace. */
  readonly selector: SelectorLike;
  /** How many of the matching pods get the containers. @default 1 */
  readonly replicas?: number;
  /** Pods being injected at once. @default 1 */
  readonly parallelism?: number;
  /** At least one container. */
  readonly containers: EphemeralContainerProps[];
  /** Fail the job after this long. @default no deadline */
  readonly activeDeadline?: Duration;
  /** Delete the job this long after it finished. @default kept */
  readonly ttlAfterFinished?: Duration;
  /** Inject into no more pods. @default false */
  readonly paused?: boolean;
}

export class EphemeralJob extends KruiseObject {
  private readonly props: EphemeralJobProps;

  constructor(scope: Construct, id: string, props: EphemeralJobProps) {
    super(scope, id, kruise.EphemeralJob.GVK, props);
    this.props = props;
  }

  /** @internal */
  public _toKube(): Record<string, unknown> {
    const p = this.props;
    return {
      selector: selectorToKube(p.selector),
      replicas: p.replicas,
      parallelism: p.parallelism,
      template: {
        ephemeralContainers: p.containers.map((c) => ({
          name: c.name,
          image: c.image,
          command: c.command,
          args: c.args,
          workingDir: c.workingDir,
          env: c.env && Object.entries(c.env).map(([name, value]) => ({ name, value })),
          targetContainerName: c.targetContainerName,
          volumeMounts: c.volumeMounts?.map((m) => ({ ...m })),
          imagePullPolicy: c.imagePullPolicy ?? 'IfNotPresent',
          terminationMessagePolicy: 'File',
          securityContext: c.securityContext,
          ...c.interactive ? { stdin: true, tty: true } : {},
        })),
      },
      activeDeadlineSeconds: p.activeDeadline?.toSeconds(),
      ttlSecondsAfterFinished: p.ttlAfterFinished?.toSeconds(),
      paused: p.paused,
    };
  }
}

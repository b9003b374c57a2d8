/**
 * PodProbeMarker (apps.kruise.io/v1alpha1): probes that Kruise's daemon runs in a pod's
 * containers, whose result is written onto the pod as labels, annotations or a pod condition:
 * "is this replica the primary?", "has the cache warmed up?". Other Kruise features act on the
 * marks (update and scale-in priorities, PodUnavailableBudget, readiness). Needs kruise-daemon
 * and the PodProbeMarkerGate feature gate (on by default).
 */
import type { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import * as kruise from '../imports/apps.kruise.io.js';
import { type SelectorLike, selectorToKube } from '../workloads/common.js';
import { KruiseObject, type KruiseObjectProps } from './base.js';

/** Timing of a probe (Kubernetes' probe fields). */
export interface MarkerProbeOptions {
  /** @default 0 */
  readonly initialDelay?: Duration;
  /** @default 10 s */
  readonly period?: Duration;
  /** @default 1 s */
  readonly timeout?: Duration;
  /** @default 1 */
  readonly successThreshold?: number;
  /** @default 3 */
  readonly failureThreshold?: number;
}

/** What a marker probe runs in the container. */
export class MarkerProbe {
  /** Runs a command in the container; exit code 0 is success. */
  static exec(command: string[], options: MarkerProbeOptions = {}): MarkerProbe {
    return new MarkerProbe({ exec: { command } }, options);
  }

  /**
   * GETs a path on the container; 2xx and 3xx are success. Kruise has no default scheme here
   * (its webhook rejects an empty one), so it is always written: HTTP unless given.
   */
  static httpGet(path: string, options: MarkerProbeOptions & { port: number | string; scheme?: 'HTTP' | 'HTTPS' }): MarkerProbe {
    const { port, scheme, ...timing } = options;
    return new MarkerProbe({ httpGet: { path, port, scheme: scheme ?? 'HTTP' } }, timing);
  }

  /** Opens a TCP connection to the container's port. */
  static tcp(port: number | string, options: MarkerProbeOptions = {}): MarkerProbe {
    return new MarkerProbe({ tcpSocket: { port } }, options);
  }

  private constructor(private readonly handler: Record<string, unknown>, private readonly options: MarkerProbeOptions) {}

  /** @internal */
  _toKube(): Record<string, unknown> {
    const o = this.options;
    return {
      ...this.handler,
      initialDelaySeconds: o.initialDelay?.toSeconds(),
      periodSeconds: o.period?.toSeconds(),
      timeoutSeconds: o.timeout?.toSeconds(),
      successThreshold: o.successThreshold,
      failureThreshold: o.failureThreshold,
    };
  }
}

/** Labels and annotations put on the pod for one result of the probe. */
export interface PodMarks {
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

export interface MarkerProbeProps {
  /** Unique in the PodProbeMarker; not a pod condition Kubernetes or Kruise own (Ready, ...). */
  readonly name: string;
  /** The container the probe runs in. */
  readonly containerName: string;
  readonly probe: MarkerProbe;
  /** Marks when the probe succeeds. */
  readonly whenSucceeded?: PodMarks;
  /** Marks when the probe fails. */
  readonly whenFailed?: PodMarks;
  /**
   * Also record the result as a pod condition of this type. At least one of the marks or a
   * condition type is needed. @default none
   */
  readonly podConditionType?: string;
}

export interface PodProbeMarkerProps extends KruiseObjectProps {
  /** Pods to probe, in the PodProbeMarker's namespace (not empty). */
  readonly selector: SelectorLike;
  /** At least one probe. */
  readonly probes: MarkerProbeProps[];
}

export class PodProbeMarker extends KruiseObject {
  private readonly props: PodProbeMarkerProps;

  constructor(scope: Construct, id: string, props: PodProbeMarkerProps) {
    super(scope, id, kruise.PodProbeMarker.GVK, props);
    this.props = props;
  }

  /** @internal */
  public _toKube(): Record<string, unknown> {
    const p = this.props;
    return {
      selector: selectorToKube(p.selector),
      probes: p.probes.map((probe) => {
        const markerPolicy = [
          ...probe.whenSucceeded ? [{ state: 'Succeeded', ...probe.whenSucceeded }] : [],
          ...probe.whenFailed ? [{ state: 'Failed', ...probe.whenFailed }] : [],
        ];
        return {
          name: probe.name,
          containerName: probe.containerName,
          probe: probe.probe._toKube(),
          markerPolicy: markerPolicy.length ? markerPolicy : undefined,
          podConditionType: probe.podConditionType,
        };
      }),
    };
  }
}

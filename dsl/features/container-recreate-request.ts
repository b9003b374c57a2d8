/**
 * ContainerRecreateRequest (apps.kruise.io/v1alpha1): restarts some containers of one running
 * pod in place (the pod keeps its name, IP, volumes and node), running each container's preStop
 * hook first. It is an operation on one pod: write it for a one-off restart, and give it a
 * ttlAfterFinished so that it does not linger. Needs kruise-daemon.
 */
import type { Duration } from 'cdk8s';
import { Construct } from 'constructs';
import * as kruise from '../imports/apps.kruise.io.js';
import { KruiseObject, type KruiseObjectProps } from './base.js';

export interface ContainerRecreateRequestProps extends KruiseObjectProps {
  /** The pod, in the request's namespace (running, not pending). */
  readonly podName: string;
  /** Names of the containers to recreate (each once). Kruise fills in their hooks and ports. */
  readonly containers: string[];
  /** Stop at the first container that fails to recreate (`'Fail'`) or go on (`'Ignore'`). @default 'Fail' */
  readonly failurePolicy?: 'Fail' | 'Ignore';
  /** Recreate the containers one after the other, in the order given. @default false (all at once) */
  readonly ordered?: boolean;
  /** Kill the containers at once, without waiting for preStop. @default false */
  readonly force?: boolean;
  /** Time for a container to stop before it is killed. @default the pod's terminationGracePeriodSeconds */
  readonly terminationGracePeriod?: Duration;
  /** Mark the pod not-ready this long before the recreation, so that traffic drains. @default no wait */
  readonly unreadyGracePeriod?: Duration;
  /** How long a recreated container must run before the next one goes. @default 0 */
  readonly minStarted?: Duration;
  /** Fail the request after this long (at least 3 s). @default no deadline */
  readonly activeDeadline?: Duration;
  /** Delete the request this long after it finished. @default kept */
  readonly ttlAfterFinished?: Duration;
}

export class ContainerRecreateRequest extends KruiseObject {
  private readonly props: ContainerRecreateRequestProps;

  constructor(scope: Construct, id: string, props: ContainerRecreateRequestProps) {
    super(scope, id, kruise.ContainerRecreateRequest.GVK, props);
    this.props = props;
  }

  /** @internal */
  public _toKube(): Record<string, unknown> {
    const p = this.props;
    const strategy = {
      failurePolicy: p.failurePolicy,
      orderedRecreate: p.ordered,
      forceRecreate: p.force,
      terminationGracePeriodSeconds: p.terminationGracePeriod?.toSeconds(),
      unreadyGracePeriodSeconds: p.unreadyGracePeriod?.toSeconds(),
      minStartedSeconds: p.minStarted?.toSeconds(),
    };
    return {
      podName: p.podName,
      containers: p.containers.map((name) => ({ name })),
      strategy: Object.values(strategy).some((v) => v !== undefined) ? strategy : undefined,
      activeDeadlineSeconds: p.activeDeadline?.toSeconds(),
      ttlSecondsAfterFinished: p.ttlAfterFinished?.toSeconds(),
    };
  }
}

/**
 * Kruise-aware health of one live object:
 *   Current            everything the spec asks for is running and ready
 *   Progressing        the controller is still working (or has not observed the spec yet)
 *   PausedAtPartition  the update stopped where a partition (or `paused`) holds it, and the
 *                      pods it should have updated are updated and ready
 *   Failed             Kruise reports ProgressDeadlineExceeded, a job failed, ...
 *   Missing            not in the cluster
 *
 * Every counter is trusted only once status.observedGeneration has caught up with
 * metadata.generation (API-NOTES §3). Traps other tools fell into are handled on purpose:
 * Kruise omits zero counters (`updatedAvailableReplicas` absent means 0, not "unknown"), a
 * partition hold is not a failure, and an in-progress update is not degraded.
 */
import { cloneSetPartitionKeep, daemonSetPartitionKeep, statefulSetPartitionKeep } from '../../dsl/arithmetic.js';
import type { KubeObject } from '../cluster/types.js';

export type HealthStatus = 'Current' | 'Progressing' | 'PausedAtPartition' | 'Failed' | 'Missing';

export interface Health {
  readonly status: HealthStatus;
  readonly message: string;
  /** For workloads: pods the current partition lets update, and how many of them are updated and ready. */
  readonly pods?: { readonly replicas: number; readonly expectedUpdated: number; readonly updated: number; readonly updatedReady: number };
}

const n = (v: unknown): number => (typeof v === 'number' ? v : 0);

const current = (message: string, pods?: Health['pods']): Health => ({ status: 'Current', message, ...(pods ? { pods } : {}) });
const progressing = (message: string, pods?: Health['pods']): Health => ({ status: 'Progressing', message, ...(pods ? { pods } : {}) });

export function assessHealth(obj: KubeObject | undefined): Health {
  if (!obj) return { status: 'Missing', message: 'not found in the cluster' };
  if (obj.metadata.deletionTimestamp) return progressing('being deleted');
  const group = obj.apiVersion.includes('/') ? obj.apiVersion.slice(0, obj.apiVersion.lastIndexOf('/')) : '';
  const check = CHECKS[`${group}/${obj.kind}`];
  if (!check) return current('exists');
  const generation = obj.metadata.generation;
  const observed = obj.status?.observedGeneration;
  if (WITH_OBSERVED_GENERATION.has(`${group}/${obj.kind}`) && generation !== undefined && (observed === undefined || observed < generation)) {
    return progressing(`waiting for the controller to observe generation ${generation}${observed !== undefined ? ` (it has seen ${observed})` : ''}`);
  }
  return check(obj);
}

const WITH_OBSERVED_GENERATION = new Set([
  'apps.kruise.io/CloneSet', 'apps.kruise.io/StatefulSet', 'apps.kruise.io/DaemonSet', 'apps.kruise.io/SidecarSet',
  'apps.kruise.io/UnitedDeployment', 'apps/Deployment', 'apps/StatefulSet', 'apps/DaemonSet',
]);

type Check = (o: KubeObject) => Health;

function podsLine(p: NonNullable<Health['pods']>): string {
  return `${p.updated}/${p.expectedUpdated} updated, ${p.updatedReady} of them ready (${p.replicas} replicas)`;
}

/**
 * The shared verdict for partitioned workloads: are the pods the partition lets through updated
 * and ready, is anything still held back, and is everything else ready?
 */
function partitioned(o: {
  replicas: number; keep: number; updated: number; updatedReady: number; ready: number; paused: boolean; extraPods?: number;
}): Health {
  const expectedUpdated = o.replicas - o.keep;
  const pods = { replicas: o.replicas, expectedUpdated, updated: o.updated, updatedReady: o.updatedReady };
  const stepDone = o.updated >= expectedUpdated && o.updatedReady >= expectedUpdated;
  if (o.paused && o.updated < o.replicas) {
    return { status: 'PausedAtPartition', message: `update paused (updateStrategy.paused): ${podsLine(pods)}`, pods };
  }
  if (!stepDone) return progressing(`updating: ${podsLine(pods)}`, pods);
  if (o.ready < o.replicas) return progressing(`${o.ready}/${o.replicas} ready`, pods);
  if ((o.extraPods ?? 0) > 0) return progressing(`${o.extraPods} surge pod(s) still running`, pods);
  if (o.keep > 0 && o.updated < o.replicas) {
    return { status: 'PausedAtPartition', message: `partition keeps ${o.keep} pod(s) at the old revision: ${podsLine(pods)}`, pods };
  }
  return current(`${o.replicas}/${o.replicas} updated and ready`, pods);
}

function deadlineExceeded(o: KubeObject): Health | undefined {
  const c = (o.status?.conditions ?? []).find((x: any) => x.type === 'Progressing');
  if (c && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded') {
    return { status: 'Failed', message: `progress deadline exceeded: ${c.message ?? 'the update made no progress in time'}` };
  }
  return undefined;
}

const cloneSet: Check = (o) => {
  const failed = deadlineExceeded(o);
  if (failed) return failed;
  const replicas = o.spec?.replicas ?? 1;
  const us = o.spec?.updateStrategy ?? {};
  const s = o.status ?? {};
  const keep = s.expectedUpdatedReplicas !== undefined ? replicas - n(s.expectedUpdatedReplicas) : cloneSetPartitionKeep(us.partition, replicas);
  return partitioned({
    replicas, keep, updated: n(s.updatedReplicas),
    // Available if Kruise reports it (honours minReadySeconds); omitted means 0.
    updatedReady: s.updatedAvailableReplicas !== undefined || (o.spec?.minReadySeconds ?? 0) > 0 ? n(s.updatedAvailableReplicas) : n(s.updatedReadyReplicas),
    ready: n(s.readyReplicas), paused: us.paused === true, extraPods: Math.max(0, n(s.replicas) - replicas),
  });
};

const advancedStatefulSet: Check = (o) => {
  const replicas = o.spec?.replicas ?? 1;
  const ru = o.spec?.updateStrategy?.rollingUpdate ?? {};
  const s = o.status ?? {};
  if (o.spec?.updateStrategy?.type === 'OnDelete') {
    return n(s.readyReplicas) >= replicas ? current(`${replicas}/${replicas} ready (updates on delete)`) : progressing(`${n(s.readyReplicas)}/${replicas} ready`);
  }
  return partitioned({
    replicas, keep: statefulSetPartitionKeep(ru.partition, replicas), updated: n(s.updatedReplicas),
    updatedReady: n(s.updatedReadyReplicas), ready: n(s.readyReplicas), paused: ru.paused === true,
    extraPods: Math.max(0, n(s.replicas) - replicas),
  });
};

const advancedDaemonSet: Check = (o) => {
  const s = o.status ?? {};
  const desired = n(s.desiredNumberScheduled);
  const ru = o.spec?.updateStrategy?.rollingUpdate ?? {};
  if (o.spec?.updateStrategy?.type === 'OnDelete') {
    return n(s.numberAvailable) >= desired ? current(`${desired}/${desired} nodes available (updates on delete)`) : progressing(`${n(s.numberAvailable)}/${desired} nodes available`);
  }
  return partitioned({
    replicas: desired, keep: daemonSetPartitionKeep(ru.partition, desired), updated: n(s.updatedNumberScheduled),
    // Per node the updated pod is the one that must be available; numberAvailable counts them all.
    updatedReady: Math.min(n(s.updatedNumberScheduled), n(s.numberAvailable)), ready: n(s.numberAvailable), paused: ru.paused === true,
  });
};

const sidecarSet: Check = (o) => {
  const s = o.status ?? {};
  const us = o.spec?.updateStrategy ?? {};
  const matched = n(s.matchedPods);
  if (matched === 0) return current('no pods match its selector yet');
  if (us.type === 'NotUpdate') return current(`${matched} pod(s) matched; running pods are not upgraded (NotUpdate)`);
  const keep = us.selector ? 0 : cloneSetPartitionKeep(us.partition, matched);
  return partitioned({
    replicas: matched, keep, updated: n(s.updatedPods), updatedReady: n(s.updatedReadyPods), ready: n(s.readyPods), paused: us.paused === true,
  });
};

const unitedDeployment: Check = (o) => {
  const s = o.status ?? {};
  const replicas = o.spec?.replicas ?? 1;
  const failure = (s.conditions ?? []).find((c: any) => c.type === 'SubsetFailure' && c.status === 'True');
  if (failure) return { status: 'Failed', message: `a subset failed: ${failure.message ?? failure.reason ?? 'unknown reason'}` };
  const subsetReplicas: Record<string, number> = s.subsetReplicas ?? {};
  const partitions: Record<string, number> = o.spec?.updateStrategy?.manualUpdate?.partitions ?? {};
  const keep = Object.entries(partitions).reduce((sum, [subset, p]) => sum + Math.max(0, Math.min(p, n(subsetReplicas[subset]))), 0);
  return partitioned({
    replicas, keep, updated: n(s.updatedReplicas), updatedReady: n(s.updatedReadyReplicas), ready: n(s.readyReplicas), paused: false,
  });
};

const broadcastJob: Check = (o) => {
  const s = o.status ?? {};
  const desired = n(s.desired);
  if (s.phase === 'failed' || (s.conditions ?? []).some((c: any) => c.type === 'Failed' && c.status === 'True')) {
    return { status: 'Failed', message: `job failed: ${n(s.failed)} of ${desired} node(s) failed` };
  }
  if (s.phase === 'completed') return current(`completed on ${n(s.succeeded)} of ${desired} node(s)`);
  if (o.spec?.paused || s.phase === 'paused') return progressing(`paused: ${n(s.succeeded)} of ${desired} node(s) done`);
  return progressing(`running: ${n(s.succeeded)} of ${desired} node(s) done, ${n(s.active)} active`);
};

const advancedCronJob: Check = (o) => {
  const s = o.status ?? {};
  const active = (s.active ?? []).length;
  const last = s.lastScheduleTime ? `last run ${s.lastScheduleTime}` : 'not run yet';
  return current(`${o.spec?.paused ? 'paused; ' : ''}${active} active run(s), ${last}`);
};

const deployment: Check = (o) => {
  const failed = deadlineExceeded(o);
  if (failed) return failed;
  const replicas = o.spec?.replicas ?? 1;
  const s = o.status ?? {};
  if (o.spec?.paused) return { status: 'PausedAtPartition', message: 'rollout paused (spec.paused)' };
  return partitioned({ replicas, keep: 0, updated: n(s.updatedReplicas), updatedReady: n(s.availableReplicas), ready: n(s.availableReplicas), paused: false, extraPods: Math.max(0, n(s.replicas) - replicas) });
};

const statefulSet: Check = (o) => {
  const replicas = o.spec?.replicas ?? 1;
  const s = o.status ?? {};
  return partitioned({
    replicas, keep: statefulSetPartitionKeep(o.spec?.updateStrategy?.rollingUpdate?.partition, replicas), updated: n(s.updatedReplicas),
    updatedReady: Math.min(n(s.updatedReplicas), n(s.readyReplicas)), ready: n(s.readyReplicas), paused: false,
  });
};

const daemonSet: Check = (o) => {
  const s = o.status ?? {};
  const desired = n(s.desiredNumberScheduled);
  return partitioned({ replicas: desired, keep: 0, updated: n(s.updatedNumberScheduled), updatedReady: Math.min(n(s.updatedNumberScheduled), n(s.numberAvailable)), ready: n(s.numberAvailable), paused: false });
};

const job: Check = (o) => {
  const conds = o.status?.conditions ?? [];
  if (conds.some((c: any) => c.type === 'Failed' && c.status === 'True')) return { status: 'Failed', message: 'job failed' };
  if (conds.some((c: any) => c.type === 'Complete' && c.status === 'True')) return current('completed');
  return progressing(`running: ${n(o.status?.succeeded)} succeeded, ${n(o.status?.active)} active`);
};

const pod: Check = (o) => {
  const phase = o.status?.phase;
  if (phase === 'Failed') return { status: 'Failed', message: o.status?.message ?? 'pod failed' };
  if (phase === 'Succeeded') return current('completed');
  const ready = (o.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
  return ready ? current('running and ready') : progressing(`${phase ?? 'Pending'}, not ready`);
};

const CHECKS: Record<string, Check> = {
  'apps.kruise.io/CloneSet': cloneSet,
  'apps.kruise.io/StatefulSet': advancedStatefulSet,
  'apps.kruise.io/DaemonSet': advancedDaemonSet,
  'apps.kruise.io/SidecarSet': sidecarSet,
  'apps.kruise.io/UnitedDeployment': unitedDeployment,
  'apps.kruise.io/BroadcastJob': broadcastJob,
  'apps.kruise.io/AdvancedCronJob': advancedCronJob,
  'apps/Deployment': deployment,
  'apps/StatefulSet': statefulSet,
  'apps/DaemonSet': daemonSet,
  'batch/Job': job,
  '/Pod': pod,
  '/PersistentVolumeClaim': (o) => (o.status?.phase === 'Bound' ? current('bound') : o.status?.phase === 'Lost' ? { status: 'Failed', message: 'claim lost its volume' } : progressing(`${o.status?.phase ?? 'Pending'}`)),
  '/Namespace': (o) => (o.status?.phase === 'Terminating' ? progressing('terminating') : current('active')),
  'apiextensions.k8s.io/CustomResourceDefinition': (o) => ((o.status?.conditions ?? []).some((c: any) => c.type === 'Established' && c.status === 'True') ? current('established') : progressing('not established yet')),
  '/Service': (o) => (o.spec?.type === 'LoadBalancer' && !(o.status?.loadBalancer?.ingress?.length) ? progressing('waiting for a load balancer address') : current('exists')),
};

/** Worst-first order, for summarising many objects in one word. */
export const HEALTH_ORDER: HealthStatus[] = ['Failed', 'Missing', 'Progressing', 'PausedAtPartition', 'Current'];

export function worstHealth(statuses: HealthStatus[]): HealthStatus {
  for (const s of HEALTH_ORDER) if (statuses.includes(s)) return s;
  return 'Current';
}

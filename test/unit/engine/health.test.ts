/** Kruise-aware health, including the traps other tools fell into (research §5). */
import { describe, expect, it } from 'vitest';
import { assessHealth, worstHealth } from '../../../engine/health/index.js';

const cloneSet = (spec: any, status: any, generation = 2) => ({
  apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name: 'web', namespace: 'shop', generation }, spec, status,
});

describe('CloneSet health', () => {
  it('does not trust counters before observedGeneration catches up', () => {
    const h = assessHealth(cloneSet({ replicas: 3 }, { observedGeneration: 1, replicas: 3, readyReplicas: 3, updatedReplicas: 3, updatedReadyReplicas: 3 }));
    expect(h).toEqual({ status: 'Progressing', message: 'waiting for the controller to observe generation 2 (it has seen 1)' });
  });

  it('is Current when every pod is updated and ready', () => {
    const h = assessHealth(cloneSet({ replicas: 3 }, { observedGeneration: 2, replicas: 3, readyReplicas: 3, updatedReplicas: 3, updatedReadyReplicas: 3, expectedUpdatedReplicas: 3 }));
    expect(h.status).toBe('Current');
    expect(h.message).toBe('3/3 updated and ready');
  });

  it('is PausedAtPartition when the partition holds pods and the allowed ones are ready', () => {
    const h = assessHealth(cloneSet({ replicas: 10, updateStrategy: { partition: '80%' } },
      { observedGeneration: 2, replicas: 10, readyReplicas: 10, updatedReplicas: 2, updatedReadyReplicas: 2, expectedUpdatedReplicas: 2 }));
    expect(h).toMatchObject({ status: 'PausedAtPartition', message: 'partition keeps 8 pod(s) at the old revision: 2/2 updated, 2 of them ready (10 replicas)' });
  });

  it('an in-progress update is Progressing, not degraded (trap 2)', () => {
    const h = assessHealth(cloneSet({ replicas: 10 }, { observedGeneration: 2, replicas: 10, readyReplicas: 9, updatedReplicas: 4, updatedReadyReplicas: 3, expectedUpdatedReplicas: 10 }));
    expect(h).toMatchObject({ status: 'Progressing', message: 'updating: 4/10 updated, 3 of them ready (10 replicas)' });
  });

  it('an omitted updatedAvailableReplicas means 0 available, not paused (trap 1)', () => {
    const h = assessHealth(cloneSet({ replicas: 2, minReadySeconds: 30 }, { observedGeneration: 2, replicas: 2, readyReplicas: 2, updatedReplicas: 2, updatedReadyReplicas: 2, expectedUpdatedReplicas: 2 }));
    expect(h.status).toBe('Progressing');
  });

  it('reports updateStrategy.paused as paused', () => {
    const h = assessHealth(cloneSet({ replicas: 4, updateStrategy: { paused: true } }, { observedGeneration: 2, replicas: 4, readyReplicas: 4, updatedReplicas: 1, updatedReadyReplicas: 1, expectedUpdatedReplicas: 4 }));
    expect(h).toMatchObject({ status: 'PausedAtPartition', message: 'update paused (updateStrategy.paused): 1/4 updated, 1 of them ready (4 replicas)' });
  });

  it('fails on ProgressDeadlineExceeded', () => {
    const h = assessHealth(cloneSet({ replicas: 3 }, {
      observedGeneration: 2, replicas: 3, readyReplicas: 2, updatedReplicas: 1,
      conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'CloneSet web has timed out progressing' }],
    }));
    expect(h).toEqual({ status: 'Failed', message: 'progress deadline exceeded: CloneSet web has timed out progressing' });
  });

  it('waits for surge pods to go away', () => {
    const h = assessHealth(cloneSet({ replicas: 3 }, { observedGeneration: 2, replicas: 4, readyReplicas: 4, updatedReplicas: 3, updatedReadyReplicas: 3, expectedUpdatedReplicas: 3 }));
    expect(h).toMatchObject({ status: 'Progressing', message: '1 surge pod(s) still running' });
  });
});

describe('other Kruise kinds', () => {
  it('Advanced StatefulSet: integer partition hold', () => {
    const h = assessHealth({ apiVersion: 'apps.kruise.io/v1beta1', kind: 'StatefulSet', metadata: { name: 'zk', generation: 3 },
      spec: { replicas: 3, updateStrategy: { rollingUpdate: { partition: 2 } } },
      status: { observedGeneration: 3, replicas: 3, readyReplicas: 3, updatedReplicas: 1, updatedReadyReplicas: 1 } });
    expect(h).toMatchObject({ status: 'PausedAtPartition', pods: { replicas: 3, expectedUpdated: 1, updated: 1, updatedReady: 1 } });
  });

  it('Advanced DaemonSet: a percentage partition rounds down', () => {
    const h = assessHealth({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'DaemonSet', metadata: { name: 'agent', generation: 1 },
      spec: { updateStrategy: { rollingUpdate: { partition: '50%' } } },
      status: { observedGeneration: 1, desiredNumberScheduled: 5, numberAvailable: 5, updatedNumberScheduled: 3 } });
    // 50% of 5 keeps 2 (floor), so 3 should be updated.
    expect(h).toMatchObject({ status: 'PausedAtPartition', pods: { expectedUpdated: 3, updated: 3 } });
  });

  it('SidecarSet: partition counts matched pods (rounded up)', () => {
    const ss = (updated: number) => ({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'SidecarSet', metadata: { name: 'logs', generation: 1 },
      spec: { updateStrategy: { partition: '50%' } }, status: { observedGeneration: 1, matchedPods: 5, updatedPods: updated, readyPods: 5, updatedReadyPods: updated } });
    expect(assessHealth(ss(1)).status).toBe('Progressing'); // keeps ceil(2.5)=3, so 2 must update
    expect(assessHealth(ss(2)).status).toBe('PausedAtPartition');
  });

  it('UnitedDeployment: partitions summed over subsets, clamped to subset replicas', () => {
    const h = assessHealth({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'UnitedDeployment', metadata: { name: 'cart', generation: 1 },
      spec: { replicas: 9, updateStrategy: { manualUpdate: { partitions: { a: 3, b: 5, c: 0 } } } },
      status: { observedGeneration: 1, replicas: 9, readyReplicas: 9, updatedReplicas: 3, updatedReadyReplicas: 3, subsetReplicas: { a: 3, b: 3, c: 3 } } });
    expect(h).toMatchObject({ status: 'PausedAtPartition', pods: { expectedUpdated: 3 } });
  });

  it('BroadcastJob: completed and failed', () => {
    const bj = (status: any) => ({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'BroadcastJob', metadata: { name: 'warm' }, spec: {}, status });
    expect(assessHealth(bj({ phase: 'completed', desired: 3, succeeded: 3 }))).toEqual({ status: 'Current', message: 'completed on 3 of 3 node(s)' });
    expect(assessHealth(bj({ phase: 'failed', desired: 3, succeeded: 2, failed: 1 })).status).toBe('Failed');
    expect(assessHealth(bj({ phase: 'running', desired: 3, succeeded: 1, active: 2 })).status).toBe('Progressing');
  });

  it('Missing, being deleted, and unknown kinds', () => {
    expect(assessHealth(undefined).status).toBe('Missing');
    expect(assessHealth({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', deletionTimestamp: '2026-01-01T00:00:00Z' } }).status).toBe('Progressing');
    expect(assessHealth({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'x' } }).status).toBe('Current');
    expect(worstHealth(['Current', 'PausedAtPartition', 'Progressing'])).toBe('Progressing');
  });
});

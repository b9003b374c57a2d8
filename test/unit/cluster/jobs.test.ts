/**
 * The other simulated controllers: BroadcastJob, AdvancedCronJob (status.type only), Deployment
 * and the kubelet's pod lifecycle; plus the timing options and determinism of the simulation.
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../../engine/cluster/types.js';
import { GIT, env, isReady, podTemplate } from './helpers.js';

function job(image: string, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps.kruise.io/v1alpha1', kind: 'BroadcastJob', metadata: { name: 'warm', namespace: 'shop' },
    spec: { template: podTemplate({ job: 'warm' }, image, { restartPolicy: 'Never' }), ...spec },
  };
}

const JOB = { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'BroadcastJob', name: 'warm', namespace: 'shop' };

describe('BroadcastJob', () => {
  it('runs a pod on every node and completes', async () => {
    const e = await env({ timing: { jobRunMs: 4000 } });
    await e.sim.apply(job('warm:1'), GIT);
    await e.tick(2000);
    expect((await e.get(JOB)).status).toMatchObject({ phase: 'running', desired: 3, active: 3, succeeded: 0 });
    await e.until(async () => (await e.get(JOB)).status.phase === 'completed');
    const st = (await e.get(JOB)).status;
    expect(st).toMatchObject({ desired: 3, active: 0, succeeded: 3, failed: 0 });
    expect(st.conditions).toEqual([expect.objectContaining({ type: 'Complete', status: 'True' })]);
    expect(st.completionTime).toBeTruthy();
    expect(new Set(e.sim.pods(JOB).map((p) => p.spec.nodeName)).size).toBe(3);
    expect(e.sim.pods(JOB).every((p) => p.status.phase === 'Succeeded')).toBe(true);
  });

  it('fails fast when a pod fails; parallelism limits pods at once; ttl deletes the finished job', async () => {
    const e = await env();
    await e.sim.apply(job('warm:crashloop'), GIT);
    await e.until(async () => (await e.get(JOB)).status?.phase === 'failed');
    expect((await e.get(JOB)).status.conditions[0]).toMatchObject({ type: 'Failed', status: 'True' });

    const e2 = await env();
    await e2.sim.apply(job('warm:1', { parallelism: 1, completionPolicy: { type: 'Always', ttlSecondsAfterFinished: 5 } }), GIT);
    await e2.until(async () => (await e2.sim.get(JOB))?.status?.phase === 'completed', 120_000, 100, async () => {
      const active = e2.sim.pods(JOB).filter((p) => p.status.phase === 'Running' || p.status.phase === 'Pending').length;
      expect(active).toBeLessThanOrEqual(1);
    });
    await e2.tick(6000);
    expect(await e2.sim.get(JOB)).toBeUndefined();
  });
});

describe('AdvancedCronJob', () => {
  it('reports which kind of job its template makes', async () => {
    const e = await env();
    await e.sim.apply({
      apiVersion: 'apps.kruise.io/v1alpha1', kind: 'AdvancedCronJob', metadata: { name: 'nightly', namespace: 'shop' },
      spec: { schedule: '0 3 * * *', template: { broadcastJobTemplate: { spec: { template: podTemplate({ a: 'b' }, 'x:1', { restartPolicy: 'Never' }) } } } },
    }, GIT);
    await e.tick(500);
    const acj = await e.get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'AdvancedCronJob', name: 'nightly', namespace: 'shop' });
    expect(acj.status).toEqual({ type: 'BroadcastJob' });
    expect(acj.spec).toMatchObject({ concurrencyPolicy: 'Allow', paused: false, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1 });
  });
});

describe('Deployment', () => {
  it('rolls within maxSurge/maxUnavailable and reports the upstream status and conditions', async () => {
    const e = await env();
    const key = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'front', namespace: 'shop' };
    const dep = (image: string): KubeObject => ({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'front', namespace: 'shop' },
      spec: { replicas: 4, selector: { matchLabels: { app: 'front' } }, template: podTemplate({ app: 'front' }, image) },
    });
    await e.sim.apply(dep('front:1'), GIT);
    await e.until(async () => (await e.observed(key)).availableReplicas === 4);
    let st = (await e.get(key)).status;
    expect(st.conditions.map((c: { type: string; reason: string }) => `${c.type}:${c.reason}`)).toEqual(['Available:MinimumReplicasAvailable', 'Progressing:NewReplicaSetAvailable']);
    await e.sim.apply(dep('front:2'), GIT);
    await e.until(async () => {
      const s = await e.observed(key);
      return s.updatedReplicas === 4 && s.availableReplicas === 4 && s.replicas === 4;
    }, 120_000, 100, () => {
      const pods = e.sim.pods(key);
      expect(pods.length).toBeLessThanOrEqual(5); // 25% surge of 4
      expect(pods.filter(isReady).length).toBeGreaterThanOrEqual(3); // 25% unavailable of 4
    });
    st = (await e.get(key)).status;
    expect(st).not.toHaveProperty('unavailableReplicas');
    expect(e.sim.pods(key).every((p) => p.spec.containers[0].image === 'front:2')).toBe(true);
  });
});

describe('the simulation itself', () => {
  it('is deterministic: same inputs, same names, uids and resourceVersions', async () => {
    const run = async () => {
      const e = await env();
      await e.sim.apply(job('warm:1'), GIT);
      await e.tick(10_000);
      return e.sim.pods().map((p) => `${p.metadata.name} ${p.metadata.uid} ${p.metadata.resourceVersion} ${p.spec.nodeName}`);
    };
    expect(await run()).toEqual(await run());
  });

  it('timing options set the readiness delays; stop() ends all activity', async () => {
    const e = await env({ timing: { podStartMs: 200, podReadyMs: 300, controllerMs: 10 } });
    await e.sim.apply({
      apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name: 'web', namespace: 'shop' },
      spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: podTemplate({ app: 'web' }, 'web:1') },
    }, GIT);
    await e.tick(500, 10);
    expect(e.sim.pods().filter(isReady).length).toBe(0); // created at 10 ms, ready at 510 ms
    await e.tick(20, 10);
    expect(e.sim.pods().filter(isReady).length).toBe(2);
    e.sim.stop();
    expect(e.clock.pending).toBe(0);
  });

  it('neverReady option marks chosen pods as crash-looping', async () => {
    const e = await env({ neverReady: (p) => p.metadata.labels?.app === 'bad' });
    await e.sim.apply({
      apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name: 'bad', namespace: 'shop' },
      spec: { replicas: 1, selector: { matchLabels: { app: 'bad' } }, template: podTemplate({ app: 'bad' }, 'fine:1') },
    }, GIT);
    await e.tick(10_000);
    const p = e.sim.pods()[0]!;
    expect(isReady(p)).toBe(false);
    expect(p.status.containerStatuses[0].state.waiting.reason).toBe('CrashLoopBackOff');
  });
});

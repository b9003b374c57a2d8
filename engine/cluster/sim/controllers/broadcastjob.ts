/**
 * BroadcastJob (apps.kruise.io): one pod on every simulated node matching the template's
 * nodeSelector, at most `parallelism` running at once; each runs for timing.jobRunMs and
 * succeeds (a never-ready pod fails). failurePolicy FailFast fails the job at the first failed
 * pod, Pause pauses it, Continue carries on; completionPolicy Always completes the job when every
 * node ran (activeDeadlineSeconds fails it, ttlSecondsAfterFinished deletes it), Never keeps it
 * running. Status: phase, desired, active, succeeded, failed, startTime, completionTime, conditions.
 * Not simulated: restartLimit, pod retries.
 */
import type { KubeObject } from '../../types.js';
import { isActive, podFromTemplate } from '../pods.js';
import type { Controller } from '../runtime.js';
import { type Condition, int, scaled } from './common.js';

function onNode(template: any, node: KubeObject): boolean {
  const sel: Record<string, string> = template?.spec?.nodeSelector ?? {};
  return Object.entries(sel).every(([k, v]) => node.metadata.labels?.[k] === v);
}

export const broadcastJobController: Controller = {
  reconcile(rt, job) {
    const spec = job.spec ?? {};
    const old = job.status ?? {};
    const now = rt.now();
    const nowS = rt.time();
    const policy = spec.completionPolicy ?? {};
    const finished = (old.conditions ?? []).some((c: Condition) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');

    if (finished) {
      // ttlSecondsAfterFinished: the job (and its pods) go that long after finishing.
      const ttl = policy.type !== 'Never' ? policy.ttlSecondsAfterFinished : undefined;
      if (typeof ttl === 'number' && old.completionTime) {
        const at = Date.parse(old.completionTime) + ttl * 1000;
        if (now >= at) rt.remove(job); else rt.requeueAt(job, at);
      }
      return;
    }

    const nodes = rt.nodes().filter((n) => onNode(spec.template, n));
    const pods = rt.owned(job);
    const ran = new Set(pods.map((p) => p.spec?.nodeName));
    const active = pods.filter(isActive);
    const failed = pods.filter((p) => p.status?.phase === 'Failed').length;
    const startTime: string = old.startTime ?? nowS;
    const failure = spec.failurePolicy?.type ?? 'FailFast';
    const paused = spec.paused === true || (failure === 'Pause' && failed > 0);
    // Kruise rounds a percentage parallelism up (broadcastjob_controller.go: GetValueFromIntOrPercent(..., true)).
    const parallelism = scaled(spec.parallelism ?? 2147483647, nodes.length, true, 2147483647);

    let conditions: Condition[] = old.conditions ?? [];
    let phase = paused ? 'paused' : 'running';
    let completionTime: string | undefined;
    const fail = (reason: string, message: string) => {
      for (const p of active) rt.remove(p);
      conditions = [...conditions, { type: 'Failed', status: 'True', reason, message, lastProbeTime: nowS, lastTransitionTime: nowS } as Condition];
      phase = 'failed';
      completionTime = nowS;
    };

    const deadline = policy.type !== 'Never' ? policy.activeDeadlineSeconds : undefined;
    if (typeof deadline === 'number' && now >= Date.parse(startTime) + deadline * 1000) {
      fail('DeadlineExceeded', 'Job was active longer than specified deadline');
    } else if (failure === 'FailFast' && failed > 0) {
      fail('Failed', `${failed} pod(s) failed`);
    } else {
      let running = active.length;
      if (!paused) {
        for (const n of nodes) {
          if (running >= parallelism) break;
          if (ran.has(n.metadata.name)) continue;
          rt.create(podFromTemplate(job, spec.template, { name: `${job.metadata.name}-${rt.suffix()}`, nodeName: n.metadata.name, labels: { 'controller-uid': job.metadata.uid! } }));
          running++;
        }
      }
      const done = nodes.every((n) => ran.has(n.metadata.name)) && active.length === 0 && pods.length > 0;
      if (done && policy.type !== 'Never') {
        conditions = [...conditions, { type: 'Complete', status: 'True', reason: 'Complete', message: 'Job completed', lastProbeTime: nowS, lastTransitionTime: nowS } as Condition];
        phase = 'completed';
        completionTime = nowS;
      }
      if (typeof deadline === 'number' && phase === 'running') rt.requeueAt(job, Date.parse(startTime) + deadline * 1000);
    }
    const after = rt.owned(job);
    const status: Record<string, any> = {
      active: after.filter(isActive).length,
      succeeded: after.filter((p) => p.status?.phase === 'Succeeded').length,
      failed: after.filter((p) => p.status?.phase === 'Failed').length,
      desired: nodes.length,
      phase,
      startTime,
      ...(completionTime ? { completionTime } : {}),
      ...(conditions.length ? { conditions } : {}),
    };
    if (completionTime && typeof policy.ttlSecondsAfterFinished === 'number') rt.requeueAt(job, now + int(policy.ttlSecondsAfterFinished, 0) * 1000);
    rt.writeStatus(job, status);
  },
};


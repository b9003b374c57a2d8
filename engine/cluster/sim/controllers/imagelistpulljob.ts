/**
 * ImageListPullJob (apps.kruise.io), simulated: every image is "pulled" on every selected node
 * in timing.imagePullMs (the simulated nodes have no image store), after which the job is
 * complete; ttlSecondsAfterFinished deletes it. Status: desired (images), active, completed,
 * succeeded, startTime, completionTime. Not simulated: per-node pulls, parallelism, failures,
 * activeDeadlineSeconds.
 */
import type { Controller } from '../runtime.js';
import { int } from './common.js';

export const imageListPullJobController: Controller = {
  reconcile(rt, job) {
    const spec = job.spec ?? {};
    const old = job.status ?? {};
    const now = rt.now();
    const ttl = spec.completionPolicy?.type !== 'Never' ? spec.completionPolicy?.ttlSecondsAfterFinished : undefined;
    if (old.completionTime) {
      if (typeof ttl === 'number') {
        const at = Date.parse(old.completionTime) + ttl * 1000;
        if (now >= at) rt.remove(job); else rt.requeueAt(job, at);
      }
      return;
    }
    const desired = Array.isArray(spec.images) ? spec.images.length : 0;
    const startTime: string = old.startTime ?? rt.time();
    const doneAt = Date.parse(startTime) + (rt.timing.imagePullMs ?? rt.timing.jobRunMs);
    const done = now >= doneAt;
    if (!done) rt.requeueAt(job, doneAt);
    else if (typeof ttl === 'number') rt.requeueAt(job, now + int(ttl, 0) * 1000);
    rt.writeStatus(job, {
      desired, active: done ? 0 : desired, completed: done ? desired : 0, succeeded: done ? desired : 0, startTime,
      ...(done ? { completionTime: rt.time() } : {}),
    });
  },
};

/**
 * AdvancedCronJob (apps.kruise.io), minimal: status.type says which kind of job the template
 * makes (Job or BroadcastJob). Not simulated: running the schedule, active jobs, lastScheduleTime.
 */
import type { Controller } from '../runtime.js';

export const advancedCronJobController: Controller = {
  reconcile(rt, acj) {
    const t = acj.spec?.template ?? {};
    const type = t.broadcastJobTemplate ? 'BroadcastJob' : t.imageListPullJobTemplate ? 'ImageListPullJob' : 'Job';
    rt.writeStatus(acj, { ...(acj.status ?? {}), type });
  },
};

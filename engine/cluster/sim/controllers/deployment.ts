/**
 * Deployment (apps/v1), minimal: pods owned by the Deployment directly (no ReplicaSets),
 * labelled pod-template-hash; RollingUpdate within maxSurge (rounds up) and maxUnavailable
 * (rounds down), Recreate, paused. Status: observedGeneration, replicas, updatedReplicas,
 * readyReplicas, availableReplicas, unavailableReplicas, conditions Available and Progressing
 * (NewReplicaSetAvailable, ReplicaSetUpdated, ProgressDeadlineExceeded).
 */
import type { KubeObject } from '../../types.js';
import { podFromTemplate } from '../pods.js';
import type { Controller } from '../runtime.js';
import { KCM } from '../runtime.js';
import { type Condition, PodView, deletionOrder, int, scaled, setCondition } from './common.js';

const HASH = 'pod-template-hash';

export const deploymentController: Controller = {
  reconcile(rt, d) {
    const spec = d.spec ?? {};
    const replicas = Math.max(0, int(spec.replicas, 1));
    const strategy = spec.strategy ?? {};
    const view = new PodView(rt, int(spec.minReadySeconds, 0));
    const rev = rt.revision(d, spec.template, '');
    const pods = rt.activePods(d);
    const isNew = (p: KubeObject) => p.metadata.labels?.[HASH] === rev;
    const fresh = pods.filter(isNew);
    const old = pods.filter((p) => !isNew(p));
    const create = (n: number) => {
      for (let i = 0; i < n; i++) {
        rt.create(podFromTemplate(d, spec.template, { name: `${d.metadata.name}-${rev.slice(0, 10)}-${rt.suffix()}`, labels: { [HASH]: rev }, nodeName: rt.pickNode() }), KCM);
      }
    };
    let acted = false;
    if (spec.paused === true || !old.length) {
      // Paused, or nothing to roll: scale the pods there are.
      const list = spec.paused === true ? pods : fresh;
      if (list.length < replicas) { create(replicas - list.length); acted = true; }
      for (const p of [...list].sort(deletionOrder).slice(0, Math.max(0, list.length - replicas))) { rt.remove(p); acted = true; }
    } else if (strategy.type === 'Recreate') {
      for (const p of old) rt.remove(p);
      acted = true;
    } else {
      const ru = strategy.rollingUpdate ?? {};
      const surge = scaled(ru.maxSurge ?? '25%', replicas, true, 0);
      const unavailable = Math.max(scaled(ru.maxUnavailable ?? '25%', replicas, false, 0), surge === 0 ? 1 : 0);
      const room = replicas + surge - pods.length;
      const k = Math.max(0, Math.min(room, replicas - fresh.length));
      if (k) { create(k); acted = true; }
      // Old pods go while availability stays at replicas - maxUnavailable; unavailable ones go freely.
      let canTakeDown = pods.filter((p) => view.available(p)).length - (replicas - unavailable);
      for (const p of [...old].sort(deletionOrder)) {
        if (view.available(p)) {
          if (canTakeDown <= 0) continue;
          canTakeDown--;
        }
        rt.remove(p);
        acted = true;
      }
    }
    if (acted) rt.enqueue(d);

    const after = rt.activePods(d);
    const available = after.filter((p) => view.available(p)).length;
    const updated = after.filter(isNew).length;
    const now = rt.time();
    const ru = strategy.rollingUpdate ?? {};
    const minAvailable = replicas - (strategy.type === 'Recreate' ? replicas : scaled(ru.maxUnavailable ?? '25%', replicas, false, 0));
    // Re-setting an unchanged condition keeps it (no status write); a refresh moves lastUpdateTime.
    const put = (list: Condition[], c: Condition, refresh = false): Condition[] => {
      const was = list.find((x) => x.type === c.type);
      return !refresh && was && was.status === c.status && was.reason === c.reason && was.message === c.message ? list : setCondition(list, c, now, true);
    };
    let conds: Condition[] = put(d.status?.conditions ?? [], available >= minAvailable
      ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' }
      : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' });
    const complete = updated === replicas && after.length === replicas && available === replicas;
    const prev = conds.find((c) => c.type === 'Progressing');
    const moved = !d.status || d.status.updatedReplicas !== updated || d.status.availableReplicas !== available || d.status.observedGeneration !== d.metadata.generation;
    const pds = int(spec.progressDeadlineSeconds, 600);
    const deadline = Date.parse(prev?.lastUpdateTime ?? now) + pds * 1000;
    if (complete) {
      conds = put(conds, { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `Deployment "${d.metadata.name}" has successfully progressed.` });
    } else if (moved || !prev || prev.reason === 'NewReplicaSetAvailable') {
      conds = put(conds, { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', message: `Deployment "${d.metadata.name}" is progressing.` }, true);
      rt.requeueAt(d, rt.now() + pds * 1000 + 1000);
    } else if (prev.reason === 'ReplicaSetUpdated' && rt.now() >= deadline) {
      conds = put(conds, { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: `Deployment "${d.metadata.name}" has timed out progressing.` });
    } else if (prev.reason === 'ReplicaSetUpdated') {
      rt.requeueAt(d, deadline + 1000);
    }
    view.requeue(d);
    rt.writeStatus(d, {
      observedGeneration: d.metadata.generation,
      replicas: after.length,
      updatedReplicas: updated,
      readyReplicas: after.filter((p) => view.ready(p)).length,
      availableReplicas: available,
      ...(after.length - available > 0 ? { unavailableReplicas: after.length - available } : {}),
      conditions: conds,
    }, KCM);
  },
};

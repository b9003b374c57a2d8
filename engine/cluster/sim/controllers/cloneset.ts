/**
 * CloneSet (apps.kruise.io/v1alpha1), modelled on Kruise v1.9's controller:
 * - replicas and scaling; scale-up creates old-revision pods first while fewer than the
 *   partition are old (so a partition holds across scaling), scale-down prefers surplus old pods;
 * - partition as a count or a percent (cloneSetPartitionKeep from dsl/arithmetic.ts), raising it
 *   never rolls pods back (CloneSetPartitionRollback is off by default);
 * - maxUnavailable (percent rounds up; down when maxSurge > 0), maxSurge (rounds up, 0 when
 *   paused), paused, minReadySeconds, priorityStrategy (weight and order);
 * - ReCreate deletes the old pod and creates a new one; InPlaceIfPossible/InPlaceOnly patch the
 *   images when only images (and pod metadata) changed, the pod staying but going unready for
 *   inPlaceUpdateStrategy.gracePeriodSeconds plus the in-place restart time;
 * - like Kruise, one reconcile either scales or updates, never both;
 * - status as Kruise writes it, with the Progressing condition when progressDeadlineSeconds is set.
 * Not simulated: lifecycle hooks, scatterStrategy, scaleStrategy.maxUnavailable, PVCs,
 * revisionHistoryLimit, specified-delete with surge.
 */
import type { KubeObject } from '../../types.js';
import { cloneSetPartitionKeep } from '../../../../dsl/arithmetic.js';
import { inPlaceCompatible, inPlaceUpdated, podFromTemplate, priorityComparator } from '../pods.js';
import type { Controller, Runtime } from '../runtime.js';
import { labelSelectorMatches, labelSelectorString } from '../selector.js';
import {
  type Condition, PodView, REVISION_LABEL, deletionOrder, int, scaled, setCondition, updateOrder, updatePodInPlace,
} from './common.js';

const INSTANCE_ID = 'apps.kruise.io/cloneset-instance-id';
const SPECIFIED_DELETE = 'apps.kruise.io/specified-delete';

export const cloneSetController: Controller = {
  reconcile(rt, cs) {
    const spec = cs.spec ?? {};
    const replicas = Math.max(0, int(spec.replicas, 1));
    const us = spec.updateStrategy ?? {};
    const paused = us.paused === true;
    const view = new PodView(rt, int(spec.minReadySeconds, 0));
    const updateRev = rt.revision(cs, spec.template);
    let currentRev: string = cs.status?.currentRevision || updateRev;
    if (!rt.revisionTemplate(cs, currentRev)) currentRev = updateRev; // history lost: nothing older to keep

    let keep = 0;
    try {
      keep = cloneSetPartitionKeep(us.partition ?? 0, replicas);
    } catch {
      keep = 0;
    }
    const maxSurge = paused ? 0 : scaled(us.maxSurge, replicas, true, 0);
    const maxUnavailable = scaled(us.maxUnavailable ?? '20%', replicas, maxSurge === 0, 0);

    const pods = rt.activePods(cs);
    const isNew = (p: KubeObject) => p.metadata.labels?.[REVISION_LABEL] === updateRev;
    const toDelete = pods.filter((p) => p.metadata.labels?.[SPECIFIED_DELETE] === 'true' || (spec.scaleStrategy?.podsToDelete ?? []).includes(p.metadata.name));
    const newPods = pods.filter(isNew);
    const oldPods = pods.filter((p) => !isNew(p));
    const unavailable = pods.filter((p) => !view.available(p)).length;

    // How far each revision is from what the partition asks for (no rollback: clamp at 0).
    const updateOldDiff = Math.max(oldPods.length - keep, 0);
    const updateNewDiff = Math.min(newPods.length - (replicas - keep), 0);
    const useSurge = maxSurge > 0 && updateOldDiff > 0 && updateNewDiff < 0 ? Math.min(maxSurge, updateOldDiff, -updateNewDiff) : 0;
    const expectedTotal = replicas + useSurge;

    let scaledThisRound = false;
    // Specified deletes and scale-down may take down ready pods only within maxUnavailable.
    let deleteReadyLimit = Math.max(maxUnavailable + (pods.length - replicas) - unavailable, 0);
    const del = (p: KubeObject) => {
      if (view.available(p)) {
        if (deleteReadyLimit <= 0) return false;
        deleteReadyLimit--;
      }
      rt.remove(p);
      scaledThisRound = true;
      return true;
    };
    for (const p of toDelete) del(p);

    const scaleUp = expectedTotal - pods.length;
    if (scaleUp > 0) {
      let oldNeeded = currentRev !== updateRev ? Math.max(keep - oldPods.length, 0) : 0;
      for (let i = 0; i < scaleUp; i++) {
        const rev = oldNeeded > 0 ? currentRev : updateRev;
        if (oldNeeded > 0) oldNeeded--;
        createPod(rt, cs, rev);
      }
      scaledThisRound = true;
    }
    const scaleDown = pods.length - toDelete.length - expectedTotal;
    if (scaleDown > 0) {
      const oldSurplus = Math.max(oldPods.length - toDelete.filter((p) => !isNew(p)).length - keep, 0);
      const rest = pods.filter((p) => !toDelete.includes(p));
      const olds = rest.filter((p) => !isNew(p)).sort(deletionOrder).slice(0, Math.min(oldSurplus, scaleDown));
      const others = rest.filter((p) => !olds.includes(p)).sort((a, b) => (isNew(a) === isNew(b) ? deletionOrder(a, b) : isNew(a) ? -1 : 1));
      for (const p of [...olds, ...others].slice(0, scaleDown)) del(p);
    }

    // Update (only in a reconcile that did not scale, as Kruise does).
    const updateNum = Math.min(updateOldDiff, -updateNewDiff);
    const type = us.type ?? 'ReCreate';
    let failedUpdate: string | undefined;
    if (!scaledThisRound && !paused && updateNum > 0) {
      const target = rt.revisionTemplate(cs, updateRev);
      const updateMaxUnavailable = maxUnavailable + pods.length - replicas;
      let wait = oldPods.filter((p) => !toDelete.includes(p)).sort(updateOrder);
      const prio = priorityComparator(us.priorityStrategy, labelSelectorMatches);
      if (prio) wait = wait.slice().sort(prio);
      wait = wait.slice(0, updateNum);
      let unavailableCount = unavailable;
      let newUnavailable = newPods.filter((p) => !view.available(p)).length;
      let started = 0;
      for (const p of wait) {
        // Unavailable new-revision pods and all unavailable pods both stay within the budget;
        // updating a pod that is already unavailable costs nothing.
        if (newUnavailable + started >= updateMaxUnavailable) break;
        if (view.available(p)) {
          if (unavailableCount >= updateMaxUnavailable) break;
          unavailableCount++;
        }
        const from = rt.revisionTemplate(cs, p.metadata.labels?.[REVISION_LABEL]);
        const inPlace = type !== 'ReCreate' && inPlaceCompatible(from, target);
        if (type === 'InPlaceOnly' && !inPlace) {
          failedUpdate = `pod ${p.metadata.name} cannot be updated in place and the update strategy is InPlaceOnly`;
          break;
        }
        started++;
        if (inPlace) {
          const next = inPlaceUpdated(p, target, { [REVISION_LABEL]: updateRev });
          updatePodInPlace(rt, p, next, int(us.inPlaceUpdateStrategy?.gracePeriodSeconds, 0));
        } else {
          rt.remove(p); // its replacement is created at the update revision by the next reconcile
        }
      }
      newUnavailable += started;
    }
    if (scaledThisRound || (updateNum > 0 && !paused)) rt.enqueue(cs);

    writeStatus(rt, cs, { replicas, keep, updateRev, currentRev, view, failedUpdate });
  },
};

function createPod(rt: Runtime, cs: KubeObject, rev: string): void {
  const id = rt.suffix();
  const template = rt.revisionTemplate(cs, rev) ?? cs.spec?.template;
  rt.create(podFromTemplate(cs, template, {
    name: `${cs.metadata.name}-${id}`,
    labels: { [REVISION_LABEL]: rev, [INSTANCE_ID]: id },
    nodeName: rt.pickNode(),
    inPlaceGate: true,
  }));
}

function writeStatus(rt: Runtime, cs: KubeObject, o: { replicas: number; keep: number; updateRev: string; currentRev: string; view: PodView; failedUpdate?: string }): void {
  const pods = rt.activePods(cs);
  const isNew = (p: KubeObject) => p.metadata.labels?.[REVISION_LABEL] === o.updateRev;
  const status: Record<string, any> = {
    observedGeneration: cs.metadata.generation,
    replicas: pods.length,
    readyReplicas: pods.filter((p) => o.view.ready(p)).length,
    availableReplicas: pods.filter((p) => o.view.available(p)).length,
    updatedReplicas: pods.filter(isNew).length,
    updatedReadyReplicas: pods.filter((p) => isNew(p) && o.view.ready(p)).length,
    updatedAvailableReplicas: pods.filter((p) => isNew(p) && o.view.available(p)).length,
    expectedUpdatedReplicas: o.replicas - o.keep,
    updateRevision: o.updateRev,
    // Stable once every pod is at the update revision and the count is right; readiness is not awaited.
    currentRevision: o.currentRev,
    labelSelector: labelSelectorString(cs.spec?.selector),
  };
  if (status.updatedReplicas === status.replicas && status.replicas === o.replicas) status.currentRevision = o.updateRev;
  const now = rt.time();
  let conds: Condition[] = (cs.status?.conditions ?? []).filter((c: Condition) => c.type !== 'FailedUpdate');
  if (o.failedUpdate) conds = setCondition(conds, { type: 'FailedUpdate', status: 'True', reason: 'InPlaceUpdateNotPossible', message: o.failedUpdate }, now);
  conds = progressing(rt, cs, status, conds);
  if (conds.length) status.conditions = conds;
  o.view.requeue(cs);
  rt.writeStatus(cs, status);
}

const COUNTERS = ['replicas', 'readyReplicas', 'availableReplicas', 'updatedReplicas', 'updatedReadyReplicas', 'updatedAvailableReplicas', 'expectedUpdatedReplicas'];

/**
 * The Progressing condition (v1.9, only with progressDeadlineSeconds): CloneSetUpdated while pods
 * move (each movement restarts the deadline), ProgressPartitionAvailable when the partitioned
 * step is available, CloneSetAvailable when all is, CloneSetPaused while paused, and
 * ProgressDeadlineExceeded (status False) when nothing moved for the deadline; a timed-out or
 * available CloneSet stays so until its revision changes.
 */
function progressing(rt: Runtime, cs: KubeObject, st: Record<string, any>, conds: Condition[]): Condition[] {
  const pds = cs.spec?.progressDeadlineSeconds;
  const others = conds.filter((c) => c.type !== 'Progressing');
  if (typeof pds !== 'number') return others;
  const now = rt.time();
  const old = cs.status ?? {};
  const cond: Condition | undefined = conds.find((c) => c.type === 'Progressing');
  // Re-setting the same condition keeps it as is (no status write); a refresh moves lastUpdateTime.
  const set = (status: 'True' | 'False', reason: string, message: string, refresh = false) =>
    !refresh && cond?.status === status && cond.reason === reason && cond.message === message
      ? conds
      : setCondition(conds, { type: 'Progressing', status, reason, message }, now, true);
  const deadlineAt = (c: Condition[]) => {
    const p = c.find((x) => x.type === 'Progressing');
    return Date.parse(p?.lastUpdateTime ?? now) + pds * 1000 + 1000;
  };
  if (st.updateRevision !== old.updateRevision) {
    const c = set('True', 'CloneSetUpdated', old.updateRevision
      ? `CloneSet is progressing due to revision changed from ${old.updateRevision} to ${st.updateRevision}`
      : 'CloneSet is progressing', true);
    rt.requeueAt(cs, deadlineAt(c));
    return c;
  }
  const timedOut = cond?.reason === 'ProgressDeadlineExceeded';
  const stable = st.currentRevision === st.updateRevision && cond?.reason === 'CloneSetAvailable';
  if (timedOut || stable) return conds;
  const replicas = int(cs.spec?.replicas, 1);
  if (st.currentRevision === st.updateRevision && st.updatedAvailableReplicas >= replicas && st.availableReplicas >= replicas) {
    return set('True', 'CloneSetAvailable', 'CloneSet is available');
  }
  if (st.expectedUpdatedReplicas < replicas && st.updatedAvailableReplicas >= st.expectedUpdatedReplicas) {
    return set('True', 'ProgressPartitionAvailable', 'CloneSet has been paused due to partition ready');
  }
  if (cs.spec?.updateStrategy?.paused) {
    return cond?.reason === 'CloneSetPaused' ? conds : set('True', 'CloneSetPaused', 'CloneSet is paused');
  }
  if (cond?.reason === 'CloneSetPaused' || COUNTERS.some((k) => old[k] !== st[k]) || !cond) {
    const c = set('True', 'CloneSetUpdated', cond?.reason === 'CloneSetPaused' ? 'CloneSet is resumed' : 'CloneSet is progressing', true);
    rt.requeueAt(cs, deadlineAt(c));
    return c;
  }
  if (cond.reason === 'CloneSetUpdated' && rt.now() >= Date.parse(cond.lastUpdateTime ?? now) + pds * 1000) {
    return set('False', 'ProgressDeadlineExceeded', `CloneSet revision ${st.updateRevision} has timed out progressing`);
  }
  if (cond.reason === 'CloneSetUpdated') rt.requeueAt(cs, deadlineAt(conds));
  return conds;
}

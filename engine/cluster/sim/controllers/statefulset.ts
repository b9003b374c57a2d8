/**
 * Advanced StatefulSet (apps.kruise.io/v1beta1, v1alpha1) and, with the Kruise extras off, the
 * core apps/v1 StatefulSet:
 * - pods `<name>-<ordinal>` (Kruise: reserveOrdinals skipped, ordinals.start honoured);
 * - OrderedReady: creates one pod at a time in ordinal order, each waiting for the previous to be
 *   available, deletes highest first, and blocks while any pod is unavailable; Parallel: all at once;
 * - RollingUpdate with an integer partition: pods at index >= partition are updated, highest
 *   first, at most maxUnavailable (Kruise; % rounds down, minimum 1) unavailable at a time;
 *   Parallel with unorderedUpdate.priorityStrategy updates by priority instead (already-updated
 *   pods counted first, capped at replicas - partition);
 * - pods below the partition that are deleted come back at the current revision;
 * - podUpdatePolicy ReCreate / InPlaceIfPossible / InPlaceOnly, paused (Kruise only); OnDelete;
 * - currentRevision becomes updateRevision once every pod is updated and ready.
 * Status: observedGeneration, replicas, readyReplicas, availableReplicas, currentReplicas,
 * updatedReplicas, (Kruise v1beta1:) updatedReadyReplicas, updatedAvailableReplicas,
 * currentRevision, updateRevision, collisionCount, labelSelector. No expectedUpdatedReplicas.
 * Not simulated: volumeClaimTemplates/PVCs, lifecycle hooks, scaleStrategy.maxUnavailable.
 */
import type { KubeObject } from '../../types.js';
import { statefulSetPartitionKeep } from '../../../../dsl/arithmetic.js';
import { inPlaceCompatible, inPlaceUpdated, podFromTemplate, priorityComparator } from '../pods.js';
import type { Controller, Runtime } from '../runtime.js';
import { KCM } from '../runtime.js';
import { labelSelectorMatches, labelSelectorString } from '../selector.js';
import { PodView, REVISION_LABEL, int, scaled, updatePodInPlace } from './common.js';

interface Flavour {
  readonly kruise: boolean;
  readonly manager: string;
}

export const advancedStatefulSetController: Controller = { reconcile: (rt, o) => reconcile(rt, o, { kruise: true, manager: 'kruise-manager' }) };
export const statefulSetController: Controller = { reconcile: (rt, o) => reconcile(rt, o, { kruise: false, manager: KCM }) };

/** Reserved ordinals: integers and "a-b" ranges. */
function reserved(list: unknown): Set<number> {
  const out = new Set<number>();
  for (const v of Array.isArray(list) ? list : []) {
    if (typeof v === 'number') out.add(v);
    else if (typeof v === 'string') {
      const m = /^(\d+)-(\d+)$/.exec(v.trim());
      if (m) for (let i = Number(m[1]); i <= Number(m[2]); i++) out.add(i);
      else if (/^\d+$/.test(v.trim())) out.add(Number(v));
    }
  }
  return out;
}

const ordinalOf = (pod: KubeObject): number => Number(/-(\d+)$/.exec(pod.metadata.name)?.[1] ?? -1);

function reconcile(rt: Runtime, sts: KubeObject, f: Flavour): void {
  const spec = sts.spec ?? {};
  const replicas = Math.max(0, int(spec.replicas, 1));
  const us = spec.updateStrategy ?? {};
  const ru = us.rollingUpdate ?? {};
  const rolling = (us.type ?? 'RollingUpdate') === 'RollingUpdate';
  const parallel = spec.podManagementPolicy === 'Parallel';
  const minReady = int(f.kruise ? ru.minReadySeconds : spec.minReadySeconds, 0);
  const view = new PodView(rt, minReady);
  const partition = statefulSetPartitionKeep(int(ru.partition, 0), replicas);
  const maxUnavailable = f.kruise && parallel ? Math.max(1, scaled(ru.maxUnavailable ?? 1, replicas, false, 1)) : 1;
  const paused = f.kruise && ru.paused === true;
  const policy = f.kruise ? ru.podUpdatePolicy ?? 'ReCreate' : 'ReCreate';

  const updateRev = rt.revision(sts, spec.template);
  let currentRev: string = sts.status?.currentRevision || updateRev;
  if (!rt.revisionTemplate(sts, currentRev)) currentRev = updateRev;

  // The ordinals this set should run, in order.
  const skip = f.kruise ? reserved(spec.reserveOrdinals) : new Set<number>();
  const want: number[] = [];
  for (let o = int(spec.ordinals?.start, 0); want.length < replicas; o++) if (!skip.has(o)) want.push(o);
  const index = new Map(want.map((o, i) => [o, i]));

  const pods = rt.activePods(sts);
  const byOrdinal = new Map(pods.map((p) => [ordinalOf(p), p]));
  let acted = false;

  // Scale up: missing ordinals, in order; OrderedReady waits for each predecessor.
  for (const o of want) {
    const p = byOrdinal.get(o);
    if (p) {
      if (!parallel && !view.available(p)) break;
      continue;
    }
    const i = index.get(o)!;
    const rev = (!rolling || i < partition) && currentRev !== updateRev ? currentRev : updateRev;
    createPod(rt, sts, o, rev, f);
    acted = true;
    if (!parallel) break;
  }

  // Scale down: ordinals no longer wanted, highest first (one at a time when ordered).
  const condemned = pods.filter((p) => !index.has(ordinalOf(p))).sort((a, b) => ordinalOf(b) - ordinalOf(a));
  if (!acted && condemned.length) {
    const allWantedUp = want.every((o) => byOrdinal.get(o) && view.available(byOrdinal.get(o)!));
    for (const p of condemned) {
      if (!parallel && !allWantedUp) break;
      rt.remove(p);
      acted = true;
      if (!parallel) break;
    }
  }

  // Rolling update.
  const live = want.map((o) => byOrdinal.get(o)).filter((p): p is KubeObject => !!p);
  const isNew = (p: KubeObject) => p.metadata.labels?.[REVISION_LABEL] === updateRev;
  if (!acted && rolling && !paused && live.length === want.length) {
    const target = rt.revisionTemplate(sts, updateRev);
    let unavailable = live.filter((p) => !view.available(p)).length;
    const maxUpdate = replicas - partition;
    let candidates: KubeObject[];
    const prio = f.kruise && parallel ? priorityComparator(ru.unorderedUpdate?.priorityStrategy, labelSelectorMatches) : undefined;
    if (prio) {
      // Unordered: already-updated pods count first, then the others by priority.
      const done = live.filter(isNew);
      const rest = live.filter((p) => !isNew(p)).sort((a, b) => ordinalOf(b) - ordinalOf(a)).sort(prio);
      candidates = rest.slice(0, Math.max(0, maxUpdate - done.length));
    } else {
      candidates = live.filter((p) => index.get(ordinalOf(p))! >= partition).sort((a, b) => ordinalOf(b) - ordinalOf(a));
    }
    for (const p of candidates) {
      if (isNew(p)) {
        // Ordered mode waits for an updated pod to be available before going lower.
        if (!parallel && !view.available(p)) break;
        continue;
      }
      if (unavailable >= maxUnavailable && view.available(p)) break;
      const from = rt.revisionTemplate(sts, p.metadata.labels?.[REVISION_LABEL]);
      const inPlace = policy !== 'ReCreate' && inPlaceCompatible(from, target);
      if (policy === 'InPlaceOnly' && !inPlace) break;
      if (view.available(p)) unavailable++;
      if (inPlace) {
        updatePodInPlace(rt, p, inPlaceUpdated(p, target, { [REVISION_LABEL]: updateRev }), int(ru.inPlaceUpdateStrategy?.gracePeriodSeconds, 0));
      } else {
        rt.remove(p); // recreated at the update revision by the next reconcile
      }
      acted = true;
      if (!parallel) break;
    }
  }
  if (acted) rt.enqueue(sts);

  // Status.
  const now = rt.activePods(sts);
  const status: Record<string, any> = {
    observedGeneration: sts.metadata.generation,
    replicas: now.length,
    readyReplicas: now.filter((p) => view.ready(p)).length,
    availableReplicas: now.filter((p) => view.available(p)).length,
    currentReplicas: now.filter((p) => p.metadata.labels?.[REVISION_LABEL] === currentRev).length,
    updatedReplicas: now.filter(isNew).length,
  };
  if (f.kruise && sts.apiVersion.endsWith('/v1beta1')) {
    status.updatedReadyReplicas = now.filter((p) => isNew(p) && view.ready(p)).length;
    status.updatedAvailableReplicas = now.filter((p) => isNew(p) && view.available(p)).length;
  }
  status.currentRevision = currentRev;
  status.updateRevision = updateRev;
  if (rolling && status.updatedReplicas === status.replicas && status.readyReplicas === status.replicas) {
    status.currentRevision = updateRev;
    status.currentReplicas = status.updatedReplicas;
  }
  status.collisionCount = 0;
  status.labelSelector = labelSelectorString(spec.selector);
  if (sts.status?.conditions) status.conditions = sts.status.conditions;
  view.requeue(sts);
  rt.writeStatus(sts, status, f.manager);
}

function createPod(rt: Runtime, sts: KubeObject, ordinal: number, rev: string, f: Flavour): void {
  const name = `${sts.metadata.name}-${ordinal}`;
  rt.create(podFromTemplate(sts, rt.revisionTemplate(sts, rev) ?? sts.spec?.template, {
    name,
    labels: { [REVISION_LABEL]: rev, 'statefulset.kubernetes.io/pod-name': name, 'apps.kubernetes.io/pod-index': String(ordinal) },
    nodeName: rt.pickNode(),
    inPlaceGate: f.kruise,
  }), f.manager);
}

/**
 * Advanced DaemonSet (apps.kruise.io/v1alpha1, v1beta1):
 * - one pod per simulated node that matches the template's nodeSelector;
 * - RollingUpdate: partition (a count or a percent of desiredNumberScheduled, rounded DOWN,
 *   daemonSetPartitionKeep) keeps that many nodes old; nodes are taken by name descending,
 *   already-updated nodes first, and only nodes matching rollingUpdate.selector when it is set;
 * - maxUnavailable (percent rounds up) limits nodes whose pod is unavailable; maxSurge starts the
 *   new pod next to the old one and deletes the old one once the new one is available;
 * - rollingUpdateType Standard recreates, InPlaceIfPossible patches images in place; paused; OnDelete.
 * Status: observedGeneration, desiredNumberScheduled, currentNumberScheduled, numberMisscheduled,
 * numberReady, numberAvailable, numberUnavailable, updatedNumberScheduled, and the template hash
 * as daemonSetHash (v1alpha1) or updateRevision (v1beta1).
 * Not simulated: node affinity/taints, burstReplicas, lifecycle hooks, partitionedScaling.
 */
import type { KubeObject } from '../../types.js';
import { daemonSetPartitionKeep } from '../../../../dsl/arithmetic.js';
import { revisionHash } from '../hash.js';
import { inPlaceCompatible, inPlaceUpdated, podFromTemplate } from '../pods.js';
import type { Controller, Runtime } from '../runtime.js';
import { labelSelectorMatches } from '../selector.js';
import { PodView, REVISION_LABEL, int, scaled, updatePodInPlace } from './common.js';

function nodeSelected(template: any, node: KubeObject): boolean {
  const sel: Record<string, string> = template?.spec?.nodeSelector ?? {};
  return Object.entries(sel).every(([k, v]) => node.metadata.labels?.[k] === v);
}

export const daemonSetController: Controller = {
  reconcile(rt, ds) {
    const spec = ds.spec ?? {};
    const us = spec.updateStrategy ?? {};
    const ru = us.rollingUpdate ?? {};
    const view = new PodView(rt, int(spec.minReadySeconds, 0));
    const hash = revisionHash(spec.template);
    const updateRev = rt.revision(ds, spec.template, '');
    const nodes = rt.nodes().filter((n) => nodeSelected(spec.template, n));
    const wanted = new Set(nodes.map((n) => n.metadata.name));
    const pods = rt.activePods(ds);
    const onNode = new Map<string, KubeObject[]>();
    for (const p of pods) onNode.set(p.spec?.nodeName ?? '', [...(onNode.get(p.spec?.nodeName ?? '') ?? []), p]);
    const isNew = (p: KubeObject) => p.metadata.labels?.[REVISION_LABEL] === updateRev;
    let acted = false;

    // Pods on nodes that should not run one go; nodes without a pod get one at the latest template.
    for (const [node, list] of onNode) {
      if (!wanted.has(node)) for (const p of list) { rt.remove(p); acted = true; }
    }
    for (const n of nodes) {
      if (!onNode.get(n.metadata.name)?.length) {
        createPod(rt, ds, n.metadata.name, updateRev);
        acted = true;
      }
    }

    const rolling = (us.type ?? 'RollingUpdate') === 'RollingUpdate';
    const paused = ru.paused === true;
    const desired = nodes.length;
    if (!acted && rolling && !paused) {
      const keep = safeKeep(ru.partition, desired);
      const maxSurge = scaled(ru.maxSurge, desired, true, 0);
      const maxUnavailable = scaled(ru.maxUnavailable ?? (maxSurge > 0 ? 0 : 1), desired, true, 1);
      const selector = ru.selector;
      // Nodes in update order: name descending, updated nodes first, unselected nodes never.
      const names = nodes.filter((n) => !selector || labelSelectorMatches(selector, n.metadata.labels))
        .map((n) => n.metadata.name).sort().reverse();
      const updated = (n: string) => (onNode.get(n) ?? []).some(isNew);
      const ordered = [...names.filter(updated), ...names.filter((n) => !updated(n))];
      const allowed = ordered.slice(0, Math.max(0, desired - keep));
      const nodeAvailable = (n: string) => (onNode.get(n) ?? []).some((p) => view.available(p));
      let unavailable = nodes.filter((n) => !nodeAvailable(n.metadata.name)).length;
      let surging = nodes.filter((n) => (onNode.get(n.metadata.name) ?? []).length > 1).length;
      const target = rt.revisionTemplate(ds, updateRev);
      const inPlaceType = ru.rollingUpdateType === 'InPlaceIfPossible';
      for (const n of allowed) {
        const list = onNode.get(n) ?? [];
        const old = list.filter((p) => !isNew(p));
        if (!old.length) continue;
        const fresh = list.find(isNew);
        if (fresh) {
          // Surge: the old pod goes once the new one on the node is available.
          if (view.available(fresh)) for (const p of old) { rt.remove(p); acted = true; }
          continue;
        }
        const p = old[0]!;
        const from = rt.revisionTemplate(ds, p.metadata.labels?.[REVISION_LABEL]);
        if (inPlaceType && inPlaceCompatible(from, target)) {
          if (view.available(p)) {
            if (unavailable >= maxUnavailable) continue;
            unavailable++;
          }
          updatePodInPlace(rt, p, inPlaceUpdated(p, target, { [REVISION_LABEL]: updateRev }), 0);
          acted = true;
        } else if (maxSurge > 0 && view.available(p)) {
          if (surging >= maxSurge) continue;
          surging++;
          createPod(rt, ds, n, updateRev);
          acted = true;
        } else {
          if (view.available(p)) {
            if (unavailable >= maxUnavailable) continue;
            unavailable++;
          }
          rt.remove(p);
          acted = true;
        }
      }
    }
    if (acted) rt.enqueue(ds);

    // Status, per node.
    const after = rt.activePods(ds);
    const byNode = new Map<string, KubeObject[]>();
    for (const p of after) byNode.set(p.spec?.nodeName ?? '', [...(byNode.get(p.spec?.nodeName ?? '') ?? []), p]);
    const oldest = (list: KubeObject[]) => [...list].sort((a, b) => ((a.metadata.creationTimestamp ?? '') < (b.metadata.creationTimestamp ?? '') ? -1 : 1))[0];
    let current = 0, ready = 0, available = 0, updatedN = 0;
    for (const n of nodes) {
      const list = byNode.get(n.metadata.name) ?? [];
      if (!list.length) continue;
      current++;
      const first = oldest(list)!;
      if (view.ready(first) || list.some((p) => isNew(p) && view.ready(p))) ready++;
      if (view.available(first) || list.some((p) => isNew(p) && view.available(p))) available++;
      if (list.some(isNew)) updatedN++;
    }
    const status: Record<string, any> = {
      observedGeneration: ds.metadata.generation,
      desiredNumberScheduled: desired,
      currentNumberScheduled: current,
      numberMisscheduled: [...byNode.keys()].filter((n) => !wanted.has(n)).length,
      numberReady: ready,
      numberAvailable: available,
      numberUnavailable: desired - available,
      updatedNumberScheduled: updatedN,
    };
    if (ds.apiVersion.endsWith('/v1alpha1')) status.daemonSetHash = hash;
    else status.updateRevision = hash;
    if (ds.status?.conditions) status.conditions = ds.status.conditions;
    view.requeue(ds);
    rt.writeStatus(ds, status);
  },
};

function safeKeep(partition: unknown, desired: number): number {
  try {
    return daemonSetPartitionKeep(partition as string | undefined, desired);
  } catch {
    return 0;
  }
}

function createPod(rt: Runtime, ds: KubeObject, node: string, rev: string): void {
  rt.create(podFromTemplate(ds, rt.revisionTemplate(ds, rev) ?? ds.spec?.template, {
    name: `${ds.metadata.name}-${rt.suffix()}`,
    labels: { [REVISION_LABEL]: rev },
    nodeName: node,
    inPlaceGate: true,
  }));
}

/**
 * UnitedDeployment (apps.kruise.io/v1alpha1): one subset workload (CloneSet, Advanced
 * StatefulSet, StatefulSet or Deployment, from the template) per topology subset, each run by
 * its own simulated controller.
 * - subset replicas as Kruise's allocator computes them: integers as given, percentages of
 *   spec.replicas rounded half up, the rest spread evenly over the subsets without replicas
 *   (subsets ordered by current replicas then name; the remainder goes to the last ones);
 * - manual per-subset partitions (updateStrategy.manualUpdate.partitions, clamped to the subset's
 *   replicas), written into each subset workload (Deployment subsets have none);
 * - subset patch (merged), nodeSelectorTerm (as required node affinity) and tolerations;
 * - status: observedGeneration, replicas, readyReplicas, updatedReplicas, updatedReadyReplicas
 *   (pods carrying the UD's revision), subsetReplicas, subsetStatuses, updateStatus
 *   {updatedRevision, currentPartitions}, currentRevision (moves when updatedReadyReplicas >= replicas),
 *   labelSelector, conditions.
 * Not simulated: adaptive scheduling (minReplicas/maxReplicas, reserved pods).
 */
import type { KubeObject } from '../../types.js';
import { clone, deepEqual, mergeApplied } from '../fields.js';
import { controllerRef, isReady } from '../pods.js';
import type { Controller, Runtime } from '../runtime.js';
import { labelSelectorString } from '../selector.js';
import { type Condition, int, setCondition } from './common.js';
import { unitedDeploymentAllocation } from '../../../../dsl/arithmetic.js';

const SUBSET = 'apps.kruise.io/subset-name';
const UD_REVISION = 'apps.kruise.io/controller-revision-hash';

interface SubsetKind {
  readonly apiVersion: string;
  readonly kind: string;
  readonly gk: string;
  readonly setPartition: (spec: any, p: number) => void;
}

const KINDS: Record<string, SubsetKind> = {
  cloneSetTemplate: {
    apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', gk: 'CloneSet.apps.kruise.io',
    setPartition: (s, p) => { s.updateStrategy = { ...(s.updateStrategy ?? {}), partition: p }; },
  },
  advancedStatefulSetTemplate: {
    apiVersion: 'apps.kruise.io/v1beta1', kind: 'StatefulSet', gk: 'StatefulSet.apps.kruise.io',
    setPartition: (s, p) => {
      s.updateStrategy = { type: 'RollingUpdate', ...(s.updateStrategy ?? {}) };
      s.updateStrategy.rollingUpdate = { ...(s.updateStrategy.rollingUpdate ?? {}), partition: p };
    },
  },
  statefulSetTemplate: {
    apiVersion: 'apps/v1', kind: 'StatefulSet', gk: 'StatefulSet.apps',
    setPartition: (s, p) => {
      s.updateStrategy = { type: 'RollingUpdate', ...(s.updateStrategy ?? {}) };
      s.updateStrategy.rollingUpdate = { ...(s.updateStrategy.rollingUpdate ?? {}), partition: p };
    },
  },
  deploymentTemplate: { apiVersion: 'apps/v1', kind: 'Deployment', gk: 'Deployment.apps', setPartition: () => undefined },
};

export const unitedDeploymentController: Controller = {
  reconcile(rt, ud) {
    const spec = ud.spec ?? {};
    const key = Object.keys(KINDS).find((k) => spec.template?.[k]);
    const now = rt.time();
    let conds: Condition[] = ud.status?.conditions ?? [];
    if (!key) return;
    const sk = KINDS[key]!;
    const template = spec.template[key];
    const revision = rt.revision(ud, spec.template);
    const subsets: any[] = spec.topology?.subsets ?? [];
    const existing = rt.owned(ud, sk.gk);
    const bySubset = new Map<string, KubeObject>();
    for (const w of existing.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) {
      const name = w.metadata.labels?.[SUBSET];
      if (name && !bySubset.has(name) && subsets.some((s) => s.name === name)) bySubset.set(name, w);
      else rt.remove(w); // removed from the topology, or a duplicate
    }
    const specifiedTotal = subsets.reduce((a, s) => a + (typeof s.replicas === 'number' ? s.replicas : 0), 0);
    const total = typeof spec.replicas === 'number' ? spec.replicas : specifiedTotal;
    const current = new Map([...bySubset].map(([n, w]) => [n, int(w.spec?.replicas, 0)]));
    const alloc = unitedDeploymentAllocation(total, subsets, current);
    if (typeof alloc === 'string') {
      conds = setCondition(conds, { type: 'SubsetProvisioned', status: 'False', reason: 'AllocateFailed', message: alloc }, now);
      rt.writeStatus(ud, { ...(ud.status ?? {}), observedGeneration: ud.metadata.generation, conditions: conds });
      return;
    }
    const manual = (spec.updateStrategy?.type ?? 'Manual') === 'Manual' ? spec.updateStrategy?.manualUpdate?.partitions ?? {} : {};
    const partitions: Record<string, number> = {};
    for (const s of subsets) partitions[s.name] = Math.min(Math.max(int(manual[s.name], 0), 0), alloc.get(s.name) ?? 0);

    for (const s of subsets) {
      const want = desiredSubset(rt, ud, sk, template, s, alloc.get(s.name) ?? 0, partitions[s.name]!, revision, bySubset.get(s.name));
      const have = bySubset.get(s.name);
      if (!have) bySubset.set(s.name, rt.create(want));
      else if (!deepEqual(want.spec, have.spec) || !deepEqual(want.metadata.labels, have.metadata.labels)) {
        bySubset.set(s.name, rt.update({ ...clone(have), metadata: { ...clone(have.metadata), labels: want.metadata.labels }, spec: want.spec }));
      }
    }

    // Status, from the subset workloads' status and their pods.
    let replicas = 0, ready = 0, updated = 0, updatedReady = 0;
    const subsetStatuses: any[] = [];
    for (const s of subsets) {
      const w = bySubset.get(s.name);
      if (!w) continue;
      const pods = rt.activePods(w);
      const st = w.status ?? {};
      replicas += int(st.replicas, 0);
      ready += int(st.readyReplicas, 0);
      updated += pods.filter((p) => p.metadata.labels?.[UD_REVISION] === revision).length;
      updatedReady += pods.filter((p) => p.metadata.labels?.[UD_REVISION] === revision && isReady(p)).length;
      subsetStatuses.push({ name: s.name, replicas: int(st.replicas, 0), readyReplicas: int(st.readyReplicas, 0), partition: partitions[s.name] });
    }
    let currentRevision: string = ud.status?.currentRevision || revision;
    if (currentRevision !== revision && updatedReady >= replicas) currentRevision = revision;
    conds = setCondition(conds, { type: 'SubsetProvisioned', status: 'True' }, now);
    conds = setCondition(conds, currentRevision === revision
      ? { type: 'UnitedDeploymentUpdated', status: 'True', reason: 'UnitedDeploymentRevisionUpdated', message: `updated to revision ${revision}` }
      : { type: 'UnitedDeploymentUpdated', status: 'False', reason: 'UnitedDeploymentRevisionUpdating', message: `updating to revision ${revision}` }, now);
    rt.writeStatus(ud, {
      observedGeneration: ud.metadata.generation,
      replicas,
      readyReplicas: ready,
      updatedReplicas: updated,
      updatedReadyReplicas: updatedReady,
      currentRevision,
      subsetReplicas: Object.fromEntries(subsets.map((s) => [s.name, alloc.get(s.name) ?? 0])),
      subsetStatuses,
      updateStatus: { updatedRevision: revision, currentPartitions: partitions },
      labelSelector: labelSelectorString(spec.selector),
      conditions: conds,
    });
  },
};

function desiredSubset(rt: Runtime, ud: KubeObject, sk: SubsetKind, template: any, s: any, replicas: number, partition: number, revision: string, have: KubeObject | undefined): KubeObject {
  const labels = { ...(template.metadata?.labels ?? {}), [SUBSET]: s.name, [UD_REVISION]: revision };
  let spec = clone(template.spec ?? {});
  spec.replicas = replicas;
  // Kruise's adapters replace the template's selector with the UnitedDeployment's plus the subset
  // label, so that each subset selects its own pods only.
  const udSelector = clone(ud.spec?.selector ?? {});
  spec.selector = { ...udSelector, matchLabels: { ...(udSelector.matchLabels ?? {}), [SUBSET]: s.name } };
  spec.template ??= {};
  spec.template.metadata = { ...(spec.template.metadata ?? {}), labels: { ...(spec.template.metadata?.labels ?? {}), [SUBSET]: s.name, [UD_REVISION]: revision } };
  const podSpec = (spec.template.spec ??= {});
  if (s.nodeSelectorTerm) {
    podSpec.affinity = mergeApplied(podSpec.affinity, {
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [clone(s.nodeSelectorTerm)] } },
    });
  }
  if (s.tolerations) podSpec.tolerations = [...(podSpec.tolerations ?? []), ...clone(s.tolerations)];
  if (s.patch && typeof s.patch === 'object') {
    const merged = mergeApplied({ metadata: { labels }, spec }, s.patch) as any;
    spec = merged.spec;
    Object.assign(labels, merged.metadata?.labels ?? {});
  }
  sk.setPartition(spec, partition);
  return {
    apiVersion: sk.apiVersion,
    kind: sk.kind,
    metadata: {
      name: have?.metadata.name ?? `${ud.metadata.name}-${s.name}-${rt.suffix()}`,
      namespace: ud.metadata.namespace,
      labels,
      ownerReferences: [controllerRef(ud)],
    },
    spec,
  };
}


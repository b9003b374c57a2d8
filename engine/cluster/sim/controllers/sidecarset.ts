/**
 * SidecarSet (apps.kruise.io, cluster-scoped):
 * - injection (Kruise's pod webhook): a new pod matching a SidecarSet's selector and namespace
 *   gets its containers (BeforeAppContainer first, AfterAppContainer last), init containers and
 *   volumes, and the kruise.io/sidecarset-hash annotations recording the revision injected;
 * - matchedPods: active pods of any workload, in any namespace, matching and injected;
 * - updates in place only when nothing but sidecar images changed (other changes make pods
 *   "not upgradable": new pods get them, existing pods never do);
 * - partition (count or percent, the CloneSet ceil rule on matchedPods) is the number of
 *   matched pods left at the old sidecar: it is taken off the list of not-yet-updated pods;
 * - maxUnavailable (default 1, percent rounds up) counts not-ready matched pods; paused,
 *   type NotUpdate and updateStrategy.selector stop or narrow updates;
 * - status: observedGeneration, matchedPods, updatedPods, readyPods, updatedReadyPods, latestRevision.
 * Not simulated: hot upgrade, transferEnv, resourcesPolicy, injection revision policies.
 */
import type { KubeObject } from '../../types.js';
import { cloneSetPartitionKeep } from '../../../../dsl/arithmetic.js';
import { clone } from '../fields.js';
import { revisionHash } from '../hash.js';
import { isActive, isReady, priorityComparator } from '../pods.js';
import type { Controller, Runtime } from '../runtime.js';
import { labelSelectorMatches } from '../selector.js';
import { scaled, updateOrder } from './common.js';

const HASH = 'kruise.io/sidecarset-hash';
const HASH_NO_IMAGE = 'kruise.io/sidecarset-hash-without-image';
const SIDECAR_ONLY = ['podInjectPolicy', 'upgradeStrategy', 'shareVolumePolicy', 'shareVolumeDevicePolicy', 'transferEnv', 'resourcesPolicy'];

interface Hashes {
  readonly hash: string;
  readonly withoutImage: string;
}

function hashes(ss: KubeObject): Hashes {
  const c = { containers: ss.spec?.containers ?? [], initContainers: ss.spec?.initContainers ?? [] };
  const noImage = clone(c);
  for (const x of [...noImage.containers, ...noImage.initContainers]) delete (x as any).image;
  return { hash: revisionHash(c), withoutImage: revisionHash(noImage) };
}

function matches(rt: Runtime, ss: KubeObject, pod: KubeObject): boolean {
  const spec = ss.spec ?? {};
  const ns = pod.metadata.namespace;
  if (spec.namespace && spec.namespace !== ns) return false;
  if (spec.namespaceSelector) {
    const nsObj = rt.get('Namespace', undefined, ns!);
    if (!labelSelectorMatches(spec.namespaceSelector, nsObj?.metadata.labels)) return false;
  }
  // The webhook requires a non-empty selector; an absent one matches nothing here.
  return !!spec.selector && labelSelectorMatches(spec.selector, pod.metadata.labels);
}

function annotationOf(pod: KubeObject, key: string): Record<string, any> {
  try {
    return JSON.parse(pod.metadata.annotations?.[key] ?? '{}');
  } catch {
    return {};
  }
}

const strip = (c: any) => {
  const out = clone(c);
  for (const k of SIDECAR_ONLY) delete out[k];
  return out;
};

/** Kruise's pod webhook: injects every matching SidecarSet into a pod being created. */
export function injectSidecars(rt: Runtime, pod: KubeObject): KubeObject {
  const sets = rt.list('SidecarSet.apps.kruise.io').filter((ss) => ss.spec?.injectionStrategy?.paused !== true && matches(rt, ss, pod));
  if (!sets.length) return pod;
  const p = clone(pod);
  const spec = (p.spec ??= {});
  const hash = annotationOf(p, HASH);
  const noImage = annotationOf(p, HASH_NO_IMAGE);
  for (const ss of sets) {
    const names = new Set([...(spec.containers ?? []), ...(spec.initContainers ?? [])].map((c: any) => c.name));
    const before: any[] = [];
    const after: any[] = [];
    const sidecars: string[] = [];
    for (const c of ss.spec?.containers ?? []) {
      if (names.has(c.name)) continue;
      sidecars.push(c.name);
      (c.podInjectPolicy === 'AfterAppContainer' ? after : before).push(strip(c));
    }
    spec.containers = [...before, ...(spec.containers ?? []), ...after];
    for (const c of ss.spec?.initContainers ?? []) {
      if (names.has(c.name)) continue;
      sidecars.push(c.name);
      spec.initContainers = [...(spec.initContainers ?? []), strip(c)];
    }
    const vols = new Set((spec.volumes ?? []).map((v: any) => v.name));
    for (const v of ss.spec?.volumes ?? []) if (!vols.has(v.name)) spec.volumes = [...(spec.volumes ?? []), clone(v)];
    const h = hashes(ss);
    const rev = rt.revision(ss, { containers: ss.spec?.containers ?? [], initContainers: ss.spec?.initContainers ?? [] });
    const common = { updateTimestamp: rt.time(), sidecarSetName: ss.metadata.name, sidecarList: sidecars, controllerRevision: rev };
    hash[ss.metadata.name] = { ...common, hash: h.hash };
    noImage[ss.metadata.name] = { ...common, hash: h.withoutImage };
  }
  p.metadata.annotations = { ...(p.metadata.annotations ?? {}), [HASH]: JSON.stringify(hash), [HASH_NO_IMAGE]: JSON.stringify(noImage) };
  return p;
}

export const sidecarSetController: Controller = {
  reconcile(rt, ss) {
    const spec = ss.spec ?? {};
    const us = spec.updateStrategy ?? {};
    const h = hashes(ss);
    const latestRevision = rt.revision(ss, { containers: spec.containers ?? [], initContainers: spec.initContainers ?? [] });
    const name = ss.metadata.name;
    const matched = rt.list('Pod').filter((p) => isActive(p) && matches(rt, ss, p) && annotationOf(p, HASH)[name]);
    const updated = (p: KubeObject) => annotationOf(p, HASH)[name]?.hash === h.hash;
    const upgradable = (p: KubeObject) => annotationOf(p, HASH_NO_IMAGE)[name]?.hash === h.withoutImage;

    if ((us.type ?? 'RollingUpdate') !== 'NotUpdate' && us.paused !== true) {
      let keep = 0;
      try {
        keep = cloneSetPartitionKeep(us.partition ?? 0, matched.length);
      } catch {
        keep = 0;
      }
      const maxUnavailable = scaled(us.maxUnavailable ?? 1, matched.length, true, 1);
      let wait = matched.filter((p) => !updated(p) && upgradable(p) && (!us.selector || labelSelectorMatches(us.selector, p.metadata.labels)));
      wait.sort(updateOrder);
      const prio = priorityComparator(us.priorityStrategy, labelSelectorMatches);
      if (prio) wait = wait.slice().sort(prio);
      // The partition is the number of matched pods left behind: cut it off the not-yet-updated list.
      wait = wait.slice(0, Math.max(0, matched.filter((p) => !updated(p)).length - keep));
      let unavailable = matched.filter((p) => !isReady(p)).length;
      let started = false;
      for (const p of wait) {
        if (isReady(p)) {
          if (unavailable >= maxUnavailable) break;
          unavailable++;
        }
        upgrade(rt, ss, p, h);
        started = true;
      }
      if (started) rt.enqueue(ss);
    }

    const now = rt.list('Pod').filter((p) => isActive(p) && matches(rt, ss, p) && annotationOf(p, HASH)[name]);
    rt.writeStatus(ss, {
      observedGeneration: ss.metadata.generation,
      matchedPods: now.length,
      updatedPods: now.filter(updated).length,
      readyPods: now.filter(isReady).length,
      updatedReadyPods: now.filter((p) => updated(p) && isReady(p)).length,
      latestRevision,
    });
  },
};

/** Updates a pod's sidecar images in place; the kubelet restarts those containers. */
function upgrade(rt: Runtime, ss: KubeObject, pod: KubeObject, h: Hashes): void {
  const next = clone(pod);
  const images = new Map<string, string>();
  for (const c of [...(ss.spec?.containers ?? []), ...(ss.spec?.initContainers ?? [])]) images.set(c.name, c.image);
  for (const list of ['containers', 'initContainers']) {
    for (const c of next.spec?.[list] ?? []) if (images.has(c.name)) c.image = images.get(c.name);
  }
  const hash = annotationOf(next, HASH);
  const entry = hash[ss.metadata.name] ?? {};
  hash[ss.metadata.name] = { ...entry, hash: h.hash, updateTimestamp: rt.time(), controllerRevision: rt.revision(ss, { containers: ss.spec?.containers ?? [], initContainers: ss.spec?.initContainers ?? [] }) };
  next.metadata.annotations = { ...next.metadata.annotations, [HASH]: JSON.stringify(hash) };
  rt.update(next);
}

/**
 * Pods as the simulated controllers see them: building one from a template, readiness and
 * availability (Ready for minReadySeconds), and the in-place update Kruise performs when only
 * images (and template labels/annotations) changed.
 */
import type { KubeObject } from '../types.js';
import { clone, deepEqual } from './fields.js';

export const INPLACE_READY = 'InPlaceUpdateReady';

/** Running (or pending) and not being deleted: the pods a workload counts. */
export function isActive(pod: KubeObject): boolean {
  const phase = pod.status?.phase;
  return !pod.metadata.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed';
}

export function condition(pod: KubeObject, type: string): { status?: string; lastTransitionTime?: string } | undefined {
  return (pod.status?.conditions ?? []).find((c: { type: string }) => c.type === type);
}

/** Running and Ready (including Kruise's InPlaceUpdateReady readiness gate). */
export function isReady(pod: KubeObject): boolean {
  return pod.status?.phase === 'Running' && condition(pod, 'Ready')?.status === 'True';
}

/** Ready for at least minReadySeconds. `readySince` is the ms time Ready became true. */
export function isAvailable(pod: KubeObject, minReadySeconds: number, now: number, readySince: number | undefined): boolean {
  if (!isReady(pod)) return false;
  if (!minReadySeconds) return true;
  return readySince !== undefined && now - readySince >= minReadySeconds * 1000;
}

/** When a ready pod becomes available (for requeueing), or undefined if it already is / never will. */
export function availableAt(pod: KubeObject, minReadySeconds: number, now: number, readySince: number | undefined): number | undefined {
  if (!isReady(pod) || !minReadySeconds || readySince === undefined) return undefined;
  const at = readySince + minReadySeconds * 1000;
  return at > now ? at : undefined;
}

export function controllerOf(pod: KubeObject): { uid: string; kind: string; name: string } | undefined {
  return pod.metadata.ownerReferences?.find((r) => r.controller);
}

export interface PodOptions {
  readonly name: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  readonly nodeName?: string;
  /** Kruise workloads inject the InPlaceUpdateReady readiness gate into their pods. */
  readonly inPlaceGate?: boolean;
}

/** A pod a workload creates from its template; the kubelet simulation takes it from there. */
export function podFromTemplate(owner: KubeObject, template: any, o: PodOptions): KubeObject {
  const spec = clone(template?.spec ?? {});
  if (o.nodeName) spec.nodeName = o.nodeName;
  if (o.inPlaceGate) {
    const gates = (spec.readinessGates ?? []).filter((g: { conditionType: string }) => g.conditionType !== INPLACE_READY);
    spec.readinessGates = [...gates, { conditionType: INPLACE_READY }];
  }
  const labels = { ...(template?.metadata?.labels ?? {}), ...(o.labels ?? {}) };
  const annotations = { ...(template?.metadata?.annotations ?? {}), ...(o.annotations ?? {}) };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: o.name,
      namespace: owner.metadata.namespace,
      labels,
      ...(Object.keys(annotations).length ? { annotations } : {}),
      ownerReferences: [controllerRef(owner)],
    },
    spec,
    status: { phase: 'Pending' },
  };
}

/** The ownerReference a controller puts on what it creates. */
export function controllerRef(owner: KubeObject): { apiVersion: string; kind: string; name: string; uid: string; controller: boolean } {
  const ref = { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: true };
  return ref;
}

const images = (spec: any) => [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])].map((c: any) => `${c?.name}=${c?.image}`);

/** Whether the container images differ between two pod specs. */
export function imagesDiffer(a: any, b: any): boolean {
  return !deepEqual(images(a), images(b));
}

/**
 * Whether a pod at template `from` can be updated in place to template `to`: Kruise (without the
 * vertical-scaling gate) updates images and pod metadata in place; anything else recreates.
 */
export function inPlaceCompatible(from: any, to: any): boolean {
  if (!from || !to) return false;
  const strip = (t: any) => {
    const c = clone(t);
    delete c.metadata;
    for (const list of ['containers', 'initContainers']) for (const x of c.spec?.[list] ?? []) delete x.image;
    return c;
  };
  return deepEqual(strip(from), strip(to));
}

/** The pod after an in-place update to `template`: new images, template labels/annotations merged. */
export function inPlaceUpdated(pod: KubeObject, template: any, labels: Record<string, string>): KubeObject {
  const next = clone(pod);
  const byName = new Map<string, any>();
  for (const c of [...(template?.spec?.containers ?? []), ...(template?.spec?.initContainers ?? [])]) byName.set(c.name, c);
  for (const list of ['containers', 'initContainers']) {
    for (const c of next.spec?.[list] ?? []) {
      const want = byName.get(c.name);
      if (want?.image) c.image = want.image;
    }
  }
  next.metadata.labels = { ...next.metadata.labels, ...(template?.metadata?.labels ?? {}), ...labels };
  const ann = { ...(next.metadata.annotations ?? {}), ...(template?.metadata?.annotations ?? {}) };
  if (Object.keys(ann).length) next.metadata.annotations = ann;
  return next;
}

/** Pod status with a condition set (lastTransitionTime moves only when the status changes). */
export function withCondition(status: any, type: string, value: 'True' | 'False', time: string, reason?: string): any {
  const s = clone(status ?? {});
  const conds: any[] = s.conditions ?? [];
  const i = conds.findIndex((c) => c.type === type);
  const prev = i >= 0 ? conds[i] : undefined;
  const c = {
    type, status: value,
    lastTransitionTime: prev && prev.status === value ? prev.lastTransitionTime : time,
    ...(reason ? { reason } : {}),
  };
  if (i >= 0) conds[i] = c; else conds.push(c);
  s.conditions = conds;
  return s;
}

/** Numeric suffix of a label value (Kruise orderPriority compares these). */
function suffixNumber(v: string): number {
  const m = /(\d+)$/.exec(v);
  return m ? Number(m[1]) : 0;
}

/**
 * Kruise's update priority (pub.UpdatePriorityStrategy): weightPriority sums the weights of the
 * terms a pod matches, heavier first; orderPriority sorts by the first orderedKey a pod has
 * (earlier keys first, pods without any key before all), larger numeric suffix first.
 * Returns a comparator; ties keep the incoming order.
 */
export function priorityComparator(strategy: any, matches: (sel: unknown, labels: Record<string, string> | undefined) => boolean): ((a: KubeObject, b: KubeObject) => number) | undefined {
  const weight: any[] = strategy?.weightPriority ?? [];
  const order: any[] = strategy?.orderPriority ?? [];
  if (weight.length) {
    const w = (p: KubeObject) => weight.reduce((sum, t) => sum + (matches(t.matchSelector, p.metadata.labels) ? Number(t.weight ?? 0) : 0), 0);
    return (a, b) => w(b) - w(a);
  }
  if (order.length) {
    const level = (p: KubeObject): [number, number] => {
      for (let i = 0; i < order.length; i++) {
        const v = p.metadata.labels?.[order[i].orderedKey];
        if (v !== undefined) return [i, suffixNumber(v)];
      }
      return [-1, 0];
    };
    return (a, b) => {
      const [la, oa] = level(a);
      const [lb, ob] = level(b);
      return la !== lb ? la - lb : ob - oa;
    };
  }
  return undefined;
}

/** Helpers the simulated controllers share. */
import type { KubeObject } from '../../types.js';
import { scaledValue } from '../../../../dsl/arithmetic.js';
import { imagesDiffer, isAvailable, isReady } from '../pods.js';
import type { Runtime } from '../runtime.js';

export const REVISION_LABEL = 'controller-revision-hash';

/** An int-or-percent scaled against `total`; a malformed value (the webhook would reject it) counts as `fallback`. */
export function scaled(v: unknown, total: number, roundUp: boolean, fallback = 0): number {
  if (v === undefined || v === null) return fallback;
  try {
    return scaledValue(v as string, total, roundUp, fallback);
  } catch {
    return fallback;
  }
}

export function int(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : fallback;
}

/** Readiness and availability of pods at one point in time, and when the next one becomes available. */
export class PodView {
  private nextAvailable: number | undefined;

  constructor(private readonly rt: Runtime, private readonly minReadySeconds: number) {}

  ready(p: KubeObject): boolean {
    return isReady(p);
  }

  available(p: KubeObject): boolean {
    const since = this.rt.kubelet.readySince(p);
    const ok = isAvailable(p, this.minReadySeconds, this.rt.now(), since);
    if (!ok && isReady(p) && since !== undefined && this.minReadySeconds) {
      const at = since + this.minReadySeconds * 1000;
      if (this.nextAvailable === undefined || at < this.nextAvailable) this.nextAvailable = at;
    }
    return ok;
  }

  /** Requeues the owner for when a ready pod crosses minReadySeconds. */
  requeue(owner: KubeObject): void {
    if (this.nextAvailable !== undefined) this.rt.requeueAt(owner, this.nextAvailable);
  }
}

/**
 * Deletion preference (like kube's ActivePods ordering): unscheduled before scheduled, pending
 * before running, not ready before ready, newer before older; then name, for determinism.
 */
export function deletionOrder(a: KubeObject, b: KubeObject): number {
  const rank = (p: KubeObject) => [
    p.spec?.nodeName ? 1 : 0,
    p.status?.phase === 'Running' ? 1 : 0,
    isReady(p) ? 1 : 0,
  ];
  const ra = rank(a);
  const rb = rank(b);
  for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return ra[i]! - rb[i]!;
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? 1 : -1;
  return a.metadata.name < b.metadata.name ? 1 : -1;
}

/** Update order before priorities: not ready first, then by name. */
export function updateOrder(a: KubeObject, b: KubeObject): number {
  const ra = isReady(a) ? 1 : 0;
  const rb = isReady(b) ? 1 : 0;
  if (ra !== rb) return ra - rb;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
}

/** Sets a condition; lastTransitionTime moves only when the status changes. */
export function setCondition(conds: Condition[] | undefined, c: Condition, now: string, withUpdateTime = false): Condition[] {
  const prev = (conds ?? []).find((x) => x.type === c.type);
  const next: Condition = {
    type: c.type, status: c.status,
    ...(c.reason ? { reason: c.reason } : {}),
    ...(c.message ? { message: c.message } : {}),
    ...(withUpdateTime ? { lastUpdateTime: c.lastUpdateTime ?? now } : {}),
    lastTransitionTime: prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : now,
  };
  // A condition keeps its place in the list; a new one goes last.
  return prev ? (conds ?? []).map((x) => (x.type === c.type ? next : x)) : [...(conds ?? []), next];
}

/** In-place update of a pod: marks it not ready (Kruise's InPlaceUpdateReady gate), then patches images. */
export function updatePodInPlace(rt: Runtime, pod: KubeObject, next: KubeObject, graceSeconds: number): void {
  // Only metadata changed: nothing restarts, the pod stays ready.
  if (!imagesDiffer(pod.spec, next.spec)) {
    rt.update(next);
    return;
  }
  const now = rt.time();
  const conds = (pod.status?.conditions ?? []).filter((c: any) => c.type !== 'InPlaceUpdateReady' && c.type !== 'Ready');
  conds.push({ type: 'InPlaceUpdateReady', status: 'False', reason: 'StartInPlaceUpdate', lastTransitionTime: now });
  conds.push({ type: 'Ready', status: 'False', reason: 'ReadinessGatesNotReady', lastTransitionTime: now });
  rt.writeStatus(pod, { ...pod.status, conditions: conds });
  if (graceSeconds > 0) rt.kubelet.setGrace(pod.metadata.uid!, graceSeconds * 1000);
  rt.update(next);
}

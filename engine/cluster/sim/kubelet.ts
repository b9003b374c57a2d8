/**
 * The simulated kubelet: moves each pod through Pending -> Running -> Ready on the clock, restarts
 * containers whose image changed (an in-place update) and makes them ready again, runs job pods
 * to completion, and keeps crash-looping pods (SimClusterOptions.neverReady) unready forever.
 * It writes only pod status, as manager "kubelet".
 */
import type { KubeObject } from '../types.js';
import { clone } from './fields.js';
import { INPLACE_READY, condition, withCondition } from './pods.js';
import type { Runtime } from './runtime.js';

interface PodState {
  epoch: number;
  readySince?: number;
  /** Extra delay before an in-place restart completes (Kruise's inPlaceUpdateStrategy grace). */
  graceMs?: number;
  restarts: number;
}

const isJobPod = (pod: KubeObject) => ['Never', 'OnFailure'].includes(pod.spec?.restartPolicy);

export class Kubelet {
  private readonly pods = new Map<string, PodState>();
  private ipSeq = 0;

  constructor(private readonly rt: Runtime) {}

  /** When a pod became Ready (ms), for minReadySeconds. */
  readySince(pod: KubeObject): number | undefined {
    const s = this.pods.get(pod.metadata.uid!);
    if (s?.readySince !== undefined) return s.readySince;
    const t = condition(pod, 'Ready');
    return t?.status === 'True' && t.lastTransitionTime ? Date.parse(t.lastTransitionTime) : undefined;
  }

  /** Delays the end of the next in-place restart of this pod by `ms`. */
  setGrace(uid: string, ms: number): void {
    const s = this.pods.get(uid);
    if (s) s.graceMs = ms;
  }

  added(pod: KubeObject): void {
    if (pod.status?.phase && pod.status.phase !== 'Pending') return;
    const st: PodState = { epoch: 0, restarts: 0 };
    this.pods.set(pod.metadata.uid!, st);
    this.after(pod, st, this.rt.timing.podStartMs, (p) => this.start(p, st));
  }

  /** The images of a running pod changed: its containers restart, then become ready again. */
  restarted(pod: KubeObject): void {
    const st = this.pods.get(pod.metadata.uid!);
    if (!st || pod.status?.phase !== 'Running') return;
    st.epoch++;
    st.readySince = undefined;
    st.restarts++;
    const grace = st.graceMs ?? 0;
    st.graceMs = undefined;
    this.after(pod, st, 0, (p) => this.write(p, this.unready(p, 'ContainersNotReady')));
    this.after(pod, st, this.rt.timing.inPlaceUpdateMs + grace, (p) => this.ready(p, st));
  }

  forget(pod: KubeObject): void {
    this.pods.delete(pod.metadata.uid!);
  }

  private after(pod: KubeObject, st: PodState, ms: number, fn: (p: KubeObject) => void): void {
    const { namespace, name, uid } = pod.metadata;
    const epoch = st.epoch;
    this.rt.timer(ms, () => {
      const p = this.rt.get('Pod', namespace, name);
      if (!p || p.metadata.uid !== uid || this.pods.get(uid!) !== st || st.epoch !== epoch) return;
      fn(p);
    });
  }

  private write(pod: KubeObject, status: any): void {
    this.rt.writeStatus(pod, status, 'kubelet');
  }

  private start(pod: KubeObject, st: PodState): void {
    let p = pod;
    if (!p.spec?.nodeName) {
      // The scheduler's binding: a pod created without a node lands on the least loaded one.
      const node = this.rt.pickNode();
      if (!node) return;
      p = this.rt.update({ ...clone(p), spec: { ...clone(p.spec), nodeName: node } }, 'kube-scheduler');
    }
    const now = this.rt.time();
    const failing = this.rt.neverReady(p);
    let s = clone(p.status ?? {});
    s.phase = 'Running';
    s.hostIP = this.rt.nodeIP(p.spec.nodeName);
    s.podIP = `10.244.${this.rt.nodeIndex(p.spec.nodeName)}.${(++this.ipSeq % 250) + 2}`;
    s.startTime = now;
    s = withCondition(s, 'PodScheduled', 'True', now);
    s = withCondition(s, 'Initialized', 'True', now);
    s = withCondition(s, 'ContainersReady', 'False', now, 'ContainersNotReady');
    s = withCondition(s, 'Ready', 'False', now, 'ContainersNotReady');
    if ((p.spec.readinessGates ?? []).some((g: any) => g.conditionType === INPLACE_READY)) s = withCondition(s, INPLACE_READY, 'True', now);
    s.containerStatuses = this.containerStatuses(p, false, failing);
    this.write(p, s);
    if (!failing || isJobPod(p)) this.after(p, st, this.rt.timing.podReadyMs, (q) => this.ready(q, st));
  }

  private unready(pod: KubeObject, reason: string): any {
    const now = this.rt.time();
    let s = clone(pod.status ?? {});
    s = withCondition(s, 'ContainersReady', 'False', now, reason);
    s = withCondition(s, 'Ready', 'False', now, reason);
    s.containerStatuses = this.containerStatuses(pod, false, false);
    return s;
  }

  private ready(pod: KubeObject, st: PodState): void {
    const now = this.rt.time();
    const failing = this.rt.neverReady(pod);
    if (isJobPod(pod)) {
      // A job pod runs for jobRunMs, then succeeds (or fails, if it is one of the broken ones).
      this.after(pod, st, this.rt.timing.jobRunMs, (q) => this.finish(q, failing));
      if (failing) return;
    }
    if (failing) {
      this.write(pod, { ...this.unready(pod, 'ContainersNotReady'), containerStatuses: this.containerStatuses(pod, false, true) });
      return;
    }
    let s = clone(pod.status ?? {});
    s = withCondition(s, 'ContainersReady', 'True', now);
    if ((pod.spec.readinessGates ?? []).some((g: any) => g.conditionType === INPLACE_READY)) s = withCondition(s, INPLACE_READY, 'True', now);
    const gatesOk = (pod.spec.readinessGates ?? []).every((g: any) => condition({ ...pod, status: s }, g.conditionType)?.status === 'True');
    s = withCondition(s, 'Ready', gatesOk ? 'True' : 'False', now, gatesOk ? undefined : 'ReadinessGatesNotReady');
    for (const c of s.conditions) if (c.status === 'True') delete c.reason;
    s.containerStatuses = this.containerStatuses(pod, true, false);
    if (gatesOk) st.readySince = this.rt.now();
    this.write(pod, s);
  }

  private finish(pod: KubeObject, failed: boolean): void {
    const now = this.rt.time();
    let s = clone(pod.status ?? {});
    s.phase = failed ? 'Failed' : 'Succeeded';
    s = withCondition(s, 'ContainersReady', 'False', now, 'PodCompleted');
    s = withCondition(s, 'Ready', 'False', now, 'PodCompleted');
    s.containerStatuses = (pod.spec.containers ?? []).map((c: any) => ({
      name: c.name, image: c.image, ready: false, started: false, restartCount: 0,
      state: { terminated: { exitCode: failed ? 1 : 0, reason: failed ? 'Error' : 'Completed', finishedAt: now } },
    }));
    this.write(pod, s);
  }

  private containerStatuses(pod: KubeObject, ready: boolean, crashing: boolean): any[] {
    const now = this.rt.time();
    const restarts = this.pods.get(pod.metadata.uid!)?.restarts ?? 0;
    return (pod.spec.containers ?? []).map((c: any) => ({
      name: c.name,
      image: c.image,
      ready: ready && !crashing,
      started: !crashing,
      restartCount: crashing ? restarts + 5 : restarts,
      state: crashing
        ? { waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting failed container ${c.name}` } }
        : { running: { startedAt: now } },
    }));
  }
}

/**
 * The controller runtime of the simulation: a work queue per object driven by clock timers (a
 * change is reconciled `controllerMs` later, so status lags spec as on a real cluster), the
 * kubelet, the Kruise pod webhook (SidecarSet injection), and the services controllers share:
 * reading and writing objects, revisions, nodes.
 *
 * Controllers are synchronous functions of (runtime, object); they write through the runtime and
 * never mutate what they read. Every write notifies the runtime, which only schedules timers:
 * nothing reconciles re-entrantly.
 */
import type { KubeObject } from '../types.js';
import type { TimerHandle } from '../../clock.js';
import type { SimCluster } from './cluster.js';
import { clone, deepEqual } from './fields.js';
import { revisionHash } from './hash.js';
import { Kubelet } from './kubelet.js';
import { imagesDiffer, isActive } from './pods.js';
import { gkOf, type StoreChange } from './store.js';
import { cloneSetController } from './controllers/cloneset.js';
import { advancedStatefulSetController, statefulSetController } from './controllers/statefulset.js';
import { daemonSetController } from './controllers/daemonset.js';
import { injectSidecars, sidecarSetController } from './controllers/sidecarset.js';
import { unitedDeploymentController } from './controllers/uniteddeployment.js';
import { broadcastJobController } from './controllers/broadcastjob.js';
import { advancedCronJobController } from './controllers/advancedcronjob.js';
import { deploymentController } from './controllers/deployment.js';
import { imageListPullJobController } from './controllers/imagelistpulljob.js';

export interface SimTiming {
  /** From a change to the controller's reconcile of it. */
  readonly controllerMs: number;
  /** From pod creation to its containers running. */
  readonly podStartMs: number;
  /** From running to Ready. */
  readonly podReadyMs: number;
  /** From an in-place image change to the pod being Ready again. */
  readonly inPlaceUpdateMs: number;
  /** How long a job pod runs before it completes. */
  readonly jobRunMs: number;
  /** How long an ImageListPullJob takes to pull its images. @default jobRunMs */
  readonly imagePullMs?: number;
}

export const DEFAULT_TIMING: SimTiming = {
  controllerMs: 100,
  podStartMs: 1000,
  podReadyMs: 2000,
  inPlaceUpdateMs: 2000,
  jobRunMs: 5000,
};

export interface Controller {
  reconcile(rt: Runtime, obj: KubeObject): void;
}

/** The field manager Kruise's controllers write as. */
export const KRUISE = 'kruise-manager';
/** The field manager kube-controller-manager's controllers write as. */
export const KCM = 'kube-controller-manager';

const rfc3339 = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

export class Runtime {
  readonly kubelet: Kubelet;
  readonly timing: SimTiming;
  readonly kruise: boolean;
  private readonly controllers = new Map<string, Controller>();
  private readonly queued = new Map<string, { at: number; handle: TimerHandle }>();
  private readonly timers = new Set<TimerHandle>();
  private readonly revisions = new Map<string, Map<string, unknown>>();
  private readonly isNeverReady: (pod: KubeObject) => boolean;
  private stopped = false;

  constructor(readonly api: SimCluster, o: { timing: SimTiming; neverReady: (pod: KubeObject) => boolean; kruise: boolean }) {
    this.timing = o.timing;
    this.kruise = o.kruise;
    this.isNeverReady = o.neverReady;
    this.kubelet = new Kubelet(this);
    if (o.kruise) {
      this.controllers.set('CloneSet.apps.kruise.io', cloneSetController);
      this.controllers.set('StatefulSet.apps.kruise.io', advancedStatefulSetController);
      this.controllers.set('DaemonSet.apps.kruise.io', daemonSetController);
      this.controllers.set('SidecarSet.apps.kruise.io', sidecarSetController);
      this.controllers.set('UnitedDeployment.apps.kruise.io', unitedDeploymentController);
      this.controllers.set('BroadcastJob.apps.kruise.io', broadcastJobController);
      this.controllers.set('AdvancedCronJob.apps.kruise.io', advancedCronJobController);
      this.controllers.set('ImageListPullJob.apps.kruise.io', imageListPullJobController);
    }
    this.controllers.set('StatefulSet.apps', statefulSetController);
    this.controllers.set('Deployment.apps', deploymentController);
  }

  now(): number {
    return this.api.clock.now();
  }

  time(ms = this.now()): string {
    return rfc3339(ms);
  }

  neverReady(pod: KubeObject): boolean {
    return this.isNeverReady(pod);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    for (const q of this.queued.values()) q.handle.cancel();
    this.queued.clear();
  }

  /** A clock timer that the runtime can cancel on stop(). */
  timer(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const h = this.api.clock.setTimer(ms, () => {
      this.timers.delete(h);
      if (this.stopped) return;
      try {
        fn();
      } catch (e) {
        this.api.controllerErrors.push(e as Error);
      }
    });
    this.timers.add(h);
  }

  // ------------------------------------------------------------------------------------------
  // The work queue

  private keyOf(obj: KubeObject): string {
    return `${gkOf(obj.apiVersion, obj.kind)}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
  }

  /** Reconciles `obj` after `delayMs` (default: the controller latency); an earlier request wins. */
  enqueue(obj: KubeObject, delayMs = this.timing.controllerMs): void {
    const gk = gkOf(obj.apiVersion, obj.kind);
    if (this.stopped || !this.controllers.has(gk)) return;
    const key = this.keyOf(obj);
    const at = this.now() + Math.max(0, delayMs);
    const prev = this.queued.get(key);
    if (prev && prev.at <= at) return;
    prev?.handle.cancel();
    const { namespace, name } = obj.metadata;
    const handle = this.api.clock.setTimer(at - this.now(), () => {
      if (this.queued.get(key)?.handle !== handle) return;
      this.queued.delete(key);
      if (this.stopped) return;
      const live = this.api.internalGet(gk, namespace, name);
      if (!live || live.metadata.deletionTimestamp) return;
      try {
        this.controllers.get(gk)!.reconcile(this, live);
      } catch (e) {
        this.api.controllerErrors.push(e as Error);
      }
    });
    this.queued.set(key, { at, handle });
  }

  /** Reconciles again at clock time `at` (for minReadySeconds, deadlines, job durations). */
  requeueAt(obj: KubeObject, at: number): void {
    this.enqueue(obj, Math.max(0, at - this.now()));
  }

  /** Called for every stored change: decides what to reconcile; never writes. */
  onChange(c: StoreChange): void {
    const { obj, old, type } = c;
    const gk = gkOf(obj.apiVersion, obj.kind);
    if (gk === 'Pod') {
      if (type === 'ADDED') this.kubelet.added(obj);
      else if (type === 'DELETED') this.kubelet.forget(obj);
      else if (old && imagesDiffer(old.spec, obj.spec)) this.kubelet.restarted(obj);
      if (this.kruise) for (const ss of this.api.internalList('SidecarSet.apps.kruise.io')) this.enqueue(ss);
    }
    if (gk === 'Node') {
      for (const k of ['DaemonSet.apps.kruise.io', 'BroadcastJob.apps.kruise.io']) for (const o of this.api.internalList(k)) this.enqueue(o);
    }
    if (gk === 'Namespace' && this.kruise) for (const ss of this.api.internalList('SidecarSet.apps.kruise.io')) this.enqueue(ss);
    if (this.controllers.has(gk)) {
      if (type === 'DELETED') {
        this.queued.get(this.keyOf(obj))?.handle.cancel();
        this.queued.delete(this.keyOf(obj));
        this.revisions.delete(obj.metadata.uid!);
      } else if (type === 'ADDED' || !old || old.metadata.generation !== obj.metadata.generation
        || !deepEqual(old.metadata.labels, obj.metadata.labels) || !deepEqual(old.metadata.annotations, obj.metadata.annotations)) {
        this.enqueue(obj);
      }
    }
    for (const ref of obj.metadata.ownerReferences ?? []) {
      if (!ref.controller) continue;
      const owner = this.api.internalByUid(ref.uid);
      if (owner) this.enqueue(owner);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Reading and writing, for controllers

  get(gk: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.api.internalGet(gk, namespace, name);
  }

  list(gk: string, namespace?: string): KubeObject[] {
    return this.api.internalList(gk, namespace);
  }

  /** Objects of kind `gk` that `owner` controls. */
  owned(owner: KubeObject, gk = 'Pod'): KubeObject[] {
    return this.api.internalDependents(owner.metadata.uid!)
      .filter((o) => gkOf(o.apiVersion, o.kind) === gk && o.metadata.ownerReferences?.some((r) => r.uid === owner.metadata.uid && r.controller));
  }

  /** Active pods `owner` controls, in name order. */
  activePods(owner: KubeObject): KubeObject[] {
    return this.owned(owner).filter(isActive).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  }

  /** Creates an object (a pod goes through the Kruise pod webhook first: sidecar injection). */
  create(obj: KubeObject, manager = KRUISE): KubeObject {
    let o = obj;
    if (o.kind === 'Pod' && o.apiVersion === 'v1') o = this.admitPod(o);
    return this.api.internalWrite(o, manager);
  }

  update(obj: KubeObject, manager = KRUISE): KubeObject {
    return this.api.internalWrite(obj, manager);
  }

  writeStatus(obj: KubeObject, status: unknown, manager = KRUISE): void {
    this.api.internalWriteStatus(obj, status, manager);
  }

  remove(obj: KubeObject): void {
    this.api.internalDelete(obj);
  }

  event(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string, component = KRUISE): void {
    this.api.recordEvent(obj, { type, reason, message }, component);
  }

  /** The Kruise pod webhook: injects matching SidecarSets' containers into a new pod. */
  admitPod(pod: KubeObject): KubeObject {
    return this.kruise ? injectSidecars(this, pod) : pod;
  }

  /** A pseudo-random 5-character name suffix (deterministic per seed). */
  suffix(): string {
    return this.api.nextRandom().suffix();
  }

  // ------------------------------------------------------------------------------------------
  // Nodes

  nodes(): KubeObject[] {
    return this.list('Node').filter((n) => !n.spec?.unschedulable);
  }

  nodeIndex(name: string): number {
    return Math.max(0, this.list('Node').findIndex((n) => n.metadata.name === name)) + 1;
  }

  nodeIP(name: string): string {
    return `172.18.0.${this.nodeIndex(name) + 1}`;
  }

  /** The node with the fewest active pods (ties by name), as a spreading scheduler would choose. */
  pickNode(): string | undefined {
    const nodes = this.nodes();
    if (!nodes.length) return undefined;
    const load = new Map(nodes.map((n) => [n.metadata.name, 0]));
    for (const p of this.list('Pod')) {
      const n = p.spec?.nodeName;
      if (n && load.has(n) && isActive(p)) load.set(n, load.get(n)! + 1);
    }
    return [...load.entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
  }

  // ------------------------------------------------------------------------------------------
  // Revisions (the ControllerRevisions a real controller keeps)

  /** Registers a template as a revision of `owner` and returns its name, `<owner>-<hash>`. */
  revision(owner: KubeObject, template: unknown, prefix = `${owner.metadata.name}-`): string {
    const name = `${prefix}${revisionHash(template)}`;
    let m = this.revisions.get(owner.metadata.uid!);
    if (!m) this.revisions.set(owner.metadata.uid!, (m = new Map()));
    if (!m.has(name)) m.set(name, clone(template));
    return name;
  }

  /** The template of a revision registered earlier, if known. */
  revisionTemplate(owner: KubeObject, name: string | undefined): any {
    return name ? this.revisions.get(owner.metadata.uid!)?.get(name) : undefined;
  }
}

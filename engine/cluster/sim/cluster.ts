/**
 * SimCluster: an in-process model of a Kubernetes apiserver with OpenKruise v1.9 installed.
 * Storage semantics (resourceVersion, generation, namespaces, server-side apply with field
 * ownership, watches that resume, garbage collection) are simulated here; the Kruise controllers
 * and a kubelet live in runtime.ts and controllers/, driven by the injected clock.
 *
 * It is a simulation and says so: `name: 'simulation'`, `simulated: true`.
 */
import { realClock, type Clock } from '../../clock.js';
import { ConflictError, NotServedError, RequestError, type RequestInfo } from '../errors.js';
import type {
  ApplyOptions, Cluster, DeleteOptions, EventInput, KubeObject, ListOptions, ListResult, ObjectKey, ResourceInfo,
  UserIdentity, WatchEvent, WatchHandle, WatchOptions,
} from '../types.js';
import { applyDefaults, validate, validateSchema } from './admission.js';
import { Discovery, isKruiseGroup } from './discovery.js';
import { Faults, type FaultHandle, type FaultRule, type SimRequest, type SimVerb } from './faults.js';
import { clone, deepEqual, describePath, isPlainObject, pathOf } from './fields.js';
import { Random } from './hash.js';
import { Runtime, DEFAULT_TIMING, type SimTiming } from './runtime.js';
import { matchesRequirements, parseSelector } from './selector.js';
import {
  applyFields, renderManagedFields, sameEntries, trackedPart, updateFields, withTracked, type FieldEntry, type Subresource,
} from './ssa.js';
import { gkOf, idOf, Store, type Stored, type Watcher } from './store.js';

export interface SimNode {
  readonly name: string;
  readonly labels?: Record<string, string>;
}

export interface SimClusterOptions {
  /** All time (timestamps, readiness delays, controller latency) comes from it. @default realClock */
  readonly clock?: Clock;
  /** OpenKruise v1.9 installed: its kinds are served and its controllers run. @default true */
  readonly kruise?: boolean;
  /** `apiVersion/Kind` entries to leave unserved, e.g. an older Kruise: `['apps.kruise.io/v1beta1/DaemonSet']`. */
  readonly notServed?: readonly string[];
  /** Simulated nodes: a count (named sim-node-1..n, zones zone-a, zone-b, ...) or explicit nodes. @default 3 */
  readonly nodes?: number | readonly SimNode[];
  /** Namespaces that exist at start. @default default, kube-system, kube-public, kube-node-lease */
  readonly namespaces?: readonly string[];
  /** Delays of the simulated controllers and kubelet (ms). */
  readonly timing?: Partial<SimTiming>;
  /**
   * Pods for which this returns true never become ready (their containers crash-loop; job pods
   * fail). @default a container image containing "crashloop"
   */
  readonly neverReady?: (pod: KubeObject) => boolean;
  /** Kruise webhook defaults and validation on create/update. @default true */
  readonly admission?: boolean;
  /** Seed for generated names and uids. @default 1 */
  readonly seed?: number;
  /** Watch events kept for resuming watches; older resourceVersions get 410 Gone. @default 10000 */
  readonly watchHistory?: number;
  /** The user whoAmI() reports, as simulation:<user>. @default developer */
  readonly user?: string;
}

/** A request the simulation served, for tests that count writes. */
export interface SimRequestRecord extends SimRequest {
  /** A write that changed stored state (false for a no-op apply or a dry run). */
  readonly wrote?: boolean;
  /** The error name, when the request failed. */
  readonly error?: string;
}

export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

const MAX_LOG = 50_000;

const rfc3339 = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

export class SimCluster implements Cluster {
  readonly name = 'simulation';
  readonly simulated = true;
  readonly clock: Clock;
  readonly kruise: boolean;
  /** Requests served (oldest dropped beyond 50,000). */
  readonly requests: SimRequestRecord[] = [];
  /** Errors thrown by simulated controllers (a bug in the simulation, never expected). */
  readonly controllerErrors: Error[] = [];

  private readonly store: Store;
  private readonly discovery: Discovery;
  private readonly faults = new Faults();
  private readonly admission: boolean;
  private readonly rng: Random;
  private readonly runtime: Runtime;
  private eventSeq = 0;
  /** Who whoAmI() says the caller is (SimClusterOptions.user, actAs()). */
  private user: string;

  constructor(o: SimClusterOptions = {}) {
    this.clock = o.clock ?? realClock;
    this.user = o.user ?? 'developer';
    this.kruise = o.kruise ?? true;
    this.admission = o.admission ?? true;
    this.rng = new Random(o.seed ?? 1);
    this.store = new Store(o.watchHistory ?? 10_000);
    this.discovery = new Discovery(this.kruise, o.notServed);
    this.runtime = new Runtime(this, {
      timing: { ...DEFAULT_TIMING, ...o.timing },
      neverReady: o.neverReady ?? ((pod) => (pod.spec?.containers ?? []).some((c: any) => /crashloop/i.test(String(c?.image ?? '')))),
      kruise: this.kruise,
    });
    this.store.listeners.push((c) => this.runtime.onChange(c));
    for (const ns of o.namespaces ?? SYSTEM_NAMESPACES) {
      this.internalWrite({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, 'kube-apiserver');
    }
    const nodes: readonly SimNode[] = typeof o.nodes === 'object' ? o.nodes : Array.from({ length: o.nodes ?? 3 }, (_, i) => ({
      name: `sim-node-${i + 1}`,
      labels: { 'topology.kubernetes.io/zone': `zone-${String.fromCharCode(97 + (i % 26))}` },
    }));
    for (const n of nodes) this.addNode(n.name, n.labels);
  }

  // ------------------------------------------------------------------------------------------
  // The Cluster interface

  async resource(apiVersion: string, kind: string): Promise<ResourceInfo> {
    return this.serve({ verb: 'resource', apiVersion, kind }, () => this.served(apiVersion, kind));
  }

  async get(key: ObjectKey): Promise<KubeObject | undefined> {
    return this.serve({ verb: 'get', ...reqOf(key) }, () => {
      const info = this.served(key.apiVersion, key.kind);
      const s = this.store.get(idOf(gkOf(key.apiVersion, key.kind), info.namespaced ? key.namespace ?? 'default' : undefined, key.name));
      return s ? this.out(s.obj, key.apiVersion) : undefined;
    });
  }

  async list(apiVersion: string, kind: string, options: ListOptions = {}): Promise<ListResult> {
    return this.serve({ verb: 'list', apiVersion, kind, ...(options.namespace ? { namespace: options.namespace } : {}) }, () => {
      const info = this.served(apiVersion, kind);
      const reqs = parseSelector(options.labelSelector);
      const items = this.store.list(gkOf(apiVersion, kind), info.namespaced ? options.namespace : undefined)
        .filter((s) => matchesLabels(reqs, s.obj))
        .map((s) => this.out(s.obj, apiVersion));
      return { items, resourceVersion: this.store.resourceVersion };
    });
  }

  async apply(obj: KubeObject, options: ApplyOptions): Promise<KubeObject> {
    return this.serveWrite({ verb: 'apply', ...reqOf(obj), fieldManager: options.fieldManager, dryRun: !!options.dryRun },
      () => this.doApply(obj, options, ''));
  }

  async applyStatus(obj: KubeObject, options: ApplyOptions): Promise<KubeObject> {
    return this.serveWrite({ verb: 'applyStatus', ...reqOf(obj), fieldManager: options.fieldManager, dryRun: !!options.dryRun },
      () => this.doApply(obj, options, 'status'));
  }

  async delete(key: ObjectKey, options: DeleteOptions = {}): Promise<boolean> {
    let wrote = false;
    const r = await this.serve({ verb: 'delete', ...reqOf(key), dryRun: !!options.dryRun }, () => {
      const info = this.served(key.apiVersion, key.kind);
      const ns = info.namespaced ? key.namespace ?? 'default' : undefined;
      const s = this.store.get(idOf(gkOf(key.apiVersion, key.kind), ns, key.name));
      if (!s) return false;
      if (options.uid && options.uid !== s.obj.metadata.uid) {
        throw new ConflictError(this.info('delete', info, key.name, ns), [],
          `Precondition failed: UID in precondition: ${options.uid}, UID in object meta: ${s.obj.metadata.uid}`);
      }
      if (options.dryRun) return true;
      wrote = true;
      this.deleteObject(s, options.propagationPolicy ?? 'Background');
      return true;
    }, () => wrote);
    return r;
  }

  async watch(apiVersion: string, kind: string, options: WatchOptions, onEvent: (e: WatchEvent) => void): Promise<WatchHandle> {
    return this.serve({ verb: 'watch', apiVersion, kind, ...(options.namespace ? { namespace: options.namespace } : {}) }, () => {
      const info = this.served(apiVersion, kind);
      const filter = {
        gk: gkOf(apiVersion, kind), apiVersion,
        ...(info.namespaced && options.namespace ? { namespace: options.namespace } : {}),
        selector: parseSelector(options.labelSelector),
      };
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const done = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
      done.catch(() => undefined); // a consumer that never awaits `done` must not crash the process
      const queue: WatchEvent[] = [];
      let scheduled = false;
      let open = true;
      const end = (err?: unknown) => {
        if (!open) return;
        open = false;
        this.store.watchers.delete(watcher);
        this.watchEnders.delete(end);
        queue.length = 0;
        if (err === undefined) resolve(); else reject(err);
      };
      const flush = () => {
        scheduled = false;
        while (open && queue.length) {
          const e = queue.shift()!;
          try {
            onEvent({ type: e.type, object: clone(e.object) });
          } catch (err) {
            end(err);
          }
        }
      };
      const watcher: Watcher = {
        filter,
        deliver: (e) => {
          if (!open) return;
          queue.push(e);
          if (!scheduled) { scheduled = true; queueMicrotask(flush); }
        },
      };
      const rv = options.resourceVersion;
      if (rv && rv !== '0') {
        const backlog = this.store.since(Number(rv), filter);
        if (!backlog) {
          queueMicrotask(() => end(new RequestError(this.info('watch', info), 410, 'Expired', `too old resource version: ${rv} (${this.store.resourceVersion})`)));
          return { stop: () => end(), done };
        }
        for (const e of backlog) watcher.deliver(e);
      } else {
        for (const s of this.store.list(filter.gk, filter.namespace)) {
          if (matchesLabels(filter.selector, s.obj)) watcher.deliver({ type: 'ADDED', object: { ...s.obj, apiVersion } });
        }
      }
      this.store.watchers.add(watcher);
      this.watchEnders.add(end);
      return { stop: () => end(), done };
    });
  }

  async event(involved: KubeObject, event: EventInput, component = 'kgitops'): Promise<void> {
    try {
      await this.serve({ verb: 'event', ...reqOf(involved) }, () => this.recordEvent(involved, event, component));
    } catch {
      // Events are best effort: a failure to record one never fails the caller.
    }
  }

  /**
   * A simulated identity: nobody authenticated anything. The name says so (simulation:<user>),
   * and so does `simulated`; actAs() changes the user.
   */
  async whoAmI(): Promise<UserIdentity> {
    return this.serve({ verb: 'whoAmI' }, () => ({ username: `simulation:${this.user}`, groups: ['system:authenticated', 'simulation:users'], simulated: true }));
  }

  // ------------------------------------------------------------------------------------------
  // Simulation-only API

  /** The user whoAmI() reports from now on (as simulation:<user>). */
  actAs(user: string): void {
    this.user = user;
  }

  /**
   * An Update operation (a PUT, like `kubectl edit` or `kubectl replace`): replaces the object
   * (its status is kept), and every field whose value changed becomes owned by `manager`. With
   * `metadata.resourceVersion` set, it must match (409 otherwise).
   */
  async update(obj: KubeObject, manager = 'kubectl-edit', options: { subresource?: 'status'; dryRun?: boolean } = {}): Promise<KubeObject> {
    return this.serveWrite({ verb: 'update', ...reqOf(obj), fieldManager: manager, dryRun: !!options.dryRun },
      () => this.doUpdate(obj, manager, options.subresource ?? '', !!options.dryRun));
  }

  /** Makes the next matching request(s) fail with the given error. */
  failNext(rule: FaultRule): FaultHandle {
    return this.faults.add(rule);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** Kubernetes Events recorded in the cluster, oldest first; with a key, only those about that object. */
  events(involved?: ObjectKey): KubeObject[] {
    const all = this.store.list('Event').map((s) => s.obj);
    const gk = involved ? gkOf(involved.apiVersion, involved.kind) : '';
    return all
      .filter((e) => !involved || (gkOf(e.involvedObject.apiVersion, e.involvedObject.kind) === gk && e.involvedObject.name === involved.name
        && (e.involvedObject.namespace ?? '') === (involved.namespace ?? '')))
      .sort((a, b) => Number(a.metadata.annotations?.['sim.kgitops.io/seq'] ?? 0) - Number(b.metadata.annotations?.['sim.kgitops.io/seq'] ?? 0))
      .map((e) => clone(e));
  }

  /**
   * Field ownership of an object in a readable list form: per managedFields entry, the paths it
   * owns as the apiserver prints them in conflicts (`.spec.replicas`,
   * `.spec.template.spec.containers[name="web"].image`). Undefined if the object does not exist.
   */
  owners(key: ObjectKey): { manager: string; operation: 'Apply' | 'Update'; subresource?: string; fields: string[] }[] | undefined {
    const info = this.discovery.resource(key.apiVersion, key.kind);
    const s = this.store.get(idOf(gkOf(key.apiVersion, key.kind), info?.namespaced === false ? undefined : key.namespace ?? 'default', key.name));
    if (!s) return undefined;
    return s.entries.map((e) => ({
      manager: e.manager, operation: e.operation, ...(e.subresource ? { subresource: e.subresource } : {}),
      fields: [...e.fields].map(pathOf).filter((p) => p[p.length - 1] !== '.').map(describePath).sort(),
    }));
  }

  /** The simulated pods, optionally only those a workload controls. */
  pods(owner?: ObjectKey): KubeObject[] {
    let pods = this.store.list('Pod').map((s) => s.obj);
    if (owner) {
      const o = this.store.get(idOf(gkOf(owner.apiVersion, owner.kind), owner.namespace, owner.name));
      if (!o) return [];
      pods = pods.filter((p) => p.metadata.ownerReferences?.some((r) => r.uid === o.obj.metadata.uid && r.controller));
    }
    return pods.map((p) => clone(p));
  }

  /** Adds a simulated node (DaemonSets and BroadcastJobs follow). */
  addNode(name: string, labels: Record<string, string> = {}): void {
    this.internalWrite({
      apiVersion: 'v1', kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', ...labels } },
      status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] },
    }, 'kubelet');
  }

  /** Removes a simulated node and the pods bound to it. */
  removeNode(name: string): void {
    const s = this.store.get(idOf('Node', undefined, name));
    if (!s) return;
    for (const p of this.store.list('Pod')) if (p.obj.spec?.nodeName === name) this.deleteObject(p, 'Background');
    this.deleteObject(s, 'Background');
  }

  /** Ends every open watch, as a dropped connection would (done rejects with `error` if given). */
  dropWatches(error?: Error): void {
    for (const end of [...this.watchEnders]) end(error);
  }

  /** Forgets the watch history, so resuming from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.store.compact();
  }

  /** Moves a FakeClock forward (the simulation runs on timers of the clock it was given). */
  async advance(ms: number): Promise<void> {
    const c = this.clock as Clock & { advance?: (ms: number) => Promise<void> };
    if (typeof c.advance !== 'function') throw new Error('advance() needs a FakeClock; with the real clock, time passes by itself');
    await c.advance(ms);
  }

  /** Stops the simulated controllers' timers (the store stays readable). */
  stop(): void {
    this.runtime.stop();
    this.dropWatches();
  }

  // ------------------------------------------------------------------------------------------
  // Request plumbing

  private readonly watchEnders = new Set<(err?: unknown) => void>();

  private served(apiVersion: string, kind: string): ResourceInfo {
    const info = this.discovery.resource(apiVersion, kind);
    if (!info) throw new NotServedError(apiVersion, kind, this.discovery.servedVersions(apiVersion, kind));
    return info;
  }

  private info(verb: string, info: ResourceInfo, name?: string, namespace?: string): RequestInfo {
    const g = info.apiVersion.includes('/') ? `${info.apiVersion.slice(0, info.apiVersion.lastIndexOf('/'))}/` : '';
    return { verb, resource: `${g}${info.plural}`, ...(name ? { name } : {}), ...(namespace ? { namespace } : {}) };
  }

  private async serve<T>(req: SimRequest, fn: () => T, wrote?: () => boolean): Promise<T> {
    await Promise.resolve(); // like a network call: never synchronous
    const served = req.apiVersion && req.kind ? this.discovery.resource(req.apiVersion, req.kind) : undefined;
    const info = served ? this.info(req.verb, served, req.name, req.namespace) : { verb: req.verb, ...(req.name ? { name: req.name } : {}), ...(req.namespace ? { namespace: req.namespace } : {}) };
    const fault = this.faults.take(req, info);
    try {
      if (fault) throw fault;
      const r = fn();
      this.log({ ...req, ...(wrote ? { wrote: wrote() } : {}) });
      return r;
    } catch (e) {
      this.log({ ...req, error: (e as Error).name ?? 'Error' });
      throw e;
    }
  }

  private async serveWrite(req: SimRequest, fn: () => { obj: KubeObject; wrote: boolean }): Promise<KubeObject> {
    let wrote = false;
    return this.serve(req, () => {
      const r = fn();
      wrote = r.wrote;
      return r.obj;
    }, () => wrote);
  }

  private log(r: SimRequestRecord): void {
    this.requests.push(r);
    if (this.requests.length > MAX_LOG) this.requests.splice(0, this.requests.length - MAX_LOG);
  }

  private out(obj: KubeObject, apiVersion: string): KubeObject {
    const o = clone(obj);
    o.apiVersion = apiVersion;
    return o;
  }

  // ------------------------------------------------------------------------------------------
  // Writes

  /** Resolves scope and checks the namespace exists (the NamespaceLifecycle admission plugin). */
  private locate(obj: KubeObject, verb: SimVerb): { info: ResourceInfo; ns: string | undefined; id: string; gk: string } {
    if (!obj || typeof obj !== 'object' || !obj.apiVersion || !obj.kind) {
      throw new RequestError({ verb }, 400, 'BadRequest', 'the object needs apiVersion and kind');
    }
    const info = this.served(obj.apiVersion, obj.kind);
    const name = obj.metadata?.name;
    if (!name || typeof name !== 'string') {
      throw new RequestError(this.info(verb, info), 422, 'Invalid', 'metadata.name: Required value: name is required');
    }
    const ns = info.namespaced ? obj.metadata.namespace ?? 'default' : undefined;
    if (ns !== undefined && !this.store.get(idOf('Namespace', undefined, ns))) {
      throw new RequestError(this.info(verb, info, name, ns), 404, 'NotFound', `namespaces "${ns}" not found`);
    }
    const gk = gkOf(obj.apiVersion, obj.kind);
    return { info, ns, gk, id: idOf(gk, ns, name) };
  }

  private doApply(obj: KubeObject, o: ApplyOptions, sub: Subresource): { obj: KubeObject; wrote: boolean } {
    const verb = sub ? 'applyStatus' : 'apply';
    if (!o.fieldManager) throw new RequestError({ verb }, 400, 'BadRequest', 'fieldManager is required for apply patch');
    const { info, ns, gk, id } = this.locate(obj, verb);
    const live = this.store.get(id);
    const request = this.info(verb, info, obj.metadata.name, ns);
    if (sub && !live) throw new RequestError(request, 404, 'NotFound', `${info.plural} "${obj.metadata.name}" not found`);
    const rv = obj.metadata.resourceVersion;
    if (rv && (!live || live.obj.metadata.resourceVersion !== rv)) {
      throw new ConflictError(request, [], 'the object has been modified; please apply your changes to the latest version and try again');
    }
    const r = applyFields({
      live: trackedPart(live?.obj, sub), applied: trackedPart(obj, sub), entries: live?.entries ?? [],
      manager: o.fieldManager, subresource: sub, force: !!o.force, apiVersion: obj.apiVersion, time: rfc3339(this.clock.now()),
    });
    if (r.conflicts.length) {
      throw new ConflictError(request, r.conflicts, 'apply conflicts');
    }
    const next = sub
      ? { ...live!.obj, status: r.tracked.status }
      : withTracked(live?.obj, r.tracked, { apiVersion: obj.apiVersion, kind: obj.kind, metadata: this.systemMeta(live, obj.metadata.name, ns) });
    if (!sub) this.admit(gk, next as KubeObject, verb, request.resource!, !live);
    return this.commit(id, gk, next as KubeObject, r.entries, live, !!o.dryRun);
  }

  private doUpdate(obj: KubeObject, manager: string, sub: Subresource, dryRun: boolean): { obj: KubeObject; wrote: boolean } {
    const { info, ns, gk, id } = this.locate(obj, 'update');
    const live = this.store.get(id);
    const request = this.info('update', info, obj.metadata.name, ns);
    if (!live) throw new RequestError(request, 404, 'NotFound', `${info.plural} "${obj.metadata.name}" not found`);
    const rv = obj.metadata.resourceVersion;
    if (rv && live.obj.metadata.resourceVersion !== rv) {
      throw new ConflictError(request, [], `Operation cannot be fulfilled on ${info.plural} "${obj.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    const tracked = trackedPart(obj, sub);
    const entries = updateFields({
      live: trackedPart(live.obj, sub), next: tracked, entries: live.entries, manager, subresource: sub,
      apiVersion: obj.apiVersion, time: rfc3339(this.clock.now()),
    });
    const next = sub
      ? { ...live.obj, status: tracked.status }
      : withTracked(live.obj, tracked, { apiVersion: obj.apiVersion, kind: obj.kind, metadata: this.systemMeta(live, obj.metadata.name, ns) });
    if (!sub) this.admit(gk, next as KubeObject, 'update', request.resource!, false);
    return this.commit(id, gk, next as KubeObject, entries, live, dryRun);
  }

  /** Admission: defaults (apiserver, Kruise webhooks), sidecar injection into new pods, validation. */
  private admit(gk: string, obj: KubeObject, verb: string, resource: string, creating: boolean): void {
    applyDefaults(gk, obj, this.kruise && this.admission);
    if (creating && gk === 'Pod') {
      const injected = this.runtime.admitPod(obj);
      if (injected !== obj) Object.assign(obj, { metadata: injected.metadata, spec: injected.spec });
    }
    // The CRD's schema is checked with or without Kruise's webhooks, before them.
    if (this.kruise && isKruiseGroup(obj.apiVersion)) validateSchema(obj, verb, resource, gk);
    if (this.admission && this.kruise && isKruiseGroup(obj.apiVersion)) validate(obj, verb, resource);
  }

  /** The metadata only the server writes, carried over from the live object (or new). */
  private systemMeta(live: Stored | undefined, name: string, ns: string | undefined): Record<string, unknown> {
    const m = live?.obj.metadata;
    return {
      name, ...(ns ? { namespace: ns } : {}),
      uid: m?.uid ?? this.rng.uid(),
      ...(m?.generation !== undefined ? { generation: m.generation } : {}),
      creationTimestamp: m?.creationTimestamp ?? rfc3339(this.clock.now()),
      ...(m?.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
    };
  }

  /**
   * Stores a new version unless nothing changed (a no-op write does not bump resourceVersion,
   * as on a real apiserver). metadata.generation moves when anything but metadata and status
   * changed, as for a custom resource with a status subresource; kinds the apiserver keeps no
   * generation for (ConfigMap, Service, Pod, ...) have none.
   */
  private commit(id: string, gk: string, next: KubeObject, entries: FieldEntry[], live: Stored | undefined, dryRun: boolean): { obj: KubeObject; wrote: boolean } {
    // The apiextensions controller accepts the names and establishes a CRD at once (here: in the same write).
    if (gk === 'CustomResourceDefinition.apiextensions.k8s.io') {
      next.status = {
        ...next.status, acceptedNames: next.spec?.names ?? {},
        conditions: [{ type: 'NamesAccepted', status: 'True', reason: 'NoConflicts' }, { type: 'Established', status: 'True', reason: 'InitialNamesAccepted' }],
      };
    }
    if (this.discovery.hasGeneration(gk)) {
      const prevGen = live?.obj.metadata.generation ?? 0;
      const specChanged = !live || !deepEqual(specPart(live.obj), specPart(next));
      next.metadata.generation = specChanged ? prevGen + 1 : prevGen;
    } else {
      delete next.metadata.generation;
    }
    if (live && deepEqual(withoutVolatile(live.obj), withoutVolatile(next)) && sameEntries(live.entries, entries)) {
      return { obj: this.out(live.obj, next.apiVersion), wrote: false };
    }
    next.metadata.managedFields = renderManagedFields(entries);
    if (dryRun) {
      next.metadata.resourceVersion = live?.obj.metadata.resourceVersion ?? '';
      return { obj: clone(next), wrote: false };
    }
    next.metadata.resourceVersion = this.store.nextResourceVersion();
    const stored: Stored = { id, gk, obj: next, entries };
    this.store.put(stored);
    if (gk === 'CustomResourceDefinition.apiextensions.k8s.io') this.discovery.setCrd(next);
    if (next.metadata.deletionTimestamp && !finalizers(next).length) this.deleteObject(stored, 'Background');
    return { obj: this.out(next, next.apiVersion), wrote: true };
  }

  /**
   * Deletes an object: with finalizers it only gets a deletionTimestamp (it goes when they are
   * removed); otherwise it and, per propagation policy, its dependents are removed. A namespace
   * takes everything in it along.
   */
  deleteObject(s: Stored, policy: 'Background' | 'Foreground' | 'Orphan'): void {
    if (finalizers(s.obj).length) {
      if (s.obj.metadata.deletionTimestamp) return;
      const next = clone(s.obj);
      next.metadata.deletionTimestamp = rfc3339(this.clock.now());
      next.metadata.resourceVersion = this.store.nextResourceVersion();
      this.store.put({ ...s, obj: next });
      return;
    }
    if (!this.store.get(s.id)) return;
    const uid = s.obj.metadata.uid!;
    const dependents = this.store.dependents(uid);
    if (policy === 'Orphan') {
      for (const d of dependents) {
        const o = clone(d.obj);
        o.metadata.ownerReferences = (o.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
        if (!o.metadata.ownerReferences.length) delete o.metadata.ownerReferences;
        this.internalWrite(o, 'kube-controller-manager');
      }
    }
    if (policy === 'Foreground') for (const d of dependents) this.deleteObject(d, 'Foreground');
    this.store.remove(s.id);
    if (s.gk === 'CustomResourceDefinition.apiextensions.k8s.io') {
      this.discovery.removeCrd(s.obj.metadata.name);
      const gk = s.obj.spec?.group ? `${s.obj.spec.names?.kind}.${s.obj.spec.group}` : '';
      for (const o of this.store.list(gk)) this.deleteObject(o, 'Background');
    }
    if (s.gk === 'Namespace') {
      for (const gk of this.store.kinds()) for (const o of this.store.list(gk, s.obj.metadata.name)) this.deleteObject(o, 'Background');
    }
    if (policy === 'Background') for (const d of this.store.dependents(uid)) this.deleteObject(d, 'Background');
  }

  // ------------------------------------------------------------------------------------------
  // Internal access for the simulated controllers (no faults, no admission, no request log)

  /** The stored object, not a copy: callers must not mutate it. */
  internalGet(gk: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.store.get(idOf(gk, namespace, name))?.obj;
  }

  internalByUid(uid: string): KubeObject | undefined {
    return this.store.byUidGet(uid)?.obj;
  }

  /** Stored objects of a kind, not copies. */
  internalList(gk: string, namespace?: string): KubeObject[] {
    return this.store.list(gk, namespace).map((s) => s.obj);
  }

  internalDependents(uid: string): KubeObject[] {
    return this.store.dependents(uid).map((s) => s.obj);
  }

  /** Creates or replaces an object (main resource) as an Update by `manager`; status is kept. */
  internalWrite(obj: KubeObject, manager: string): KubeObject {
    const gk = gkOf(obj.apiVersion, obj.kind);
    const info = this.discovery.resource(obj.apiVersion, obj.kind);
    const ns = info?.namespaced === false ? undefined : obj.metadata.namespace;
    const id = idOf(gk, ns, obj.metadata.name);
    const live = this.store.get(id);
    const tracked = trackedPart(obj, '');
    const entries = updateFields({
      live: trackedPart(live?.obj, ''), next: tracked, entries: live?.entries ?? [], manager, subresource: '',
      apiVersion: obj.apiVersion, time: rfc3339(this.clock.now()),
    });
    const next = withTracked(live?.obj, tracked, { apiVersion: obj.apiVersion, kind: obj.kind, metadata: this.systemMeta(live, obj.metadata.name, ns) }) as KubeObject;
    if (!live && obj.status !== undefined) next.status = clone(obj.status);
    applyDefaults(gk, next, this.kruise && this.admission);
    return this.commit(id, gk, next, entries, live, false).obj;
  }

  /** Writes the status subresource as an Update by `manager`, if it changed. */
  internalWriteStatus(obj: KubeObject, status: unknown, manager: string): void {
    const gk = gkOf(obj.apiVersion, obj.kind);
    const id = idOf(gk, obj.metadata.namespace, obj.metadata.name);
    const live = this.store.get(id);
    if (!live || deepEqual(live.obj.status, status)) return;
    const tracked = isPlainObject(status) || status !== undefined ? { status } : {};
    const entries = updateFields({
      live: trackedPart(live.obj, 'status'), next: tracked, entries: live.entries, manager, subresource: 'status',
      apiVersion: live.obj.apiVersion, time: rfc3339(this.clock.now()),
    });
    this.commit(id, gk, { ...live.obj, metadata: { ...live.obj.metadata }, status: clone(status) }, entries, live, false);
  }

  internalDelete(obj: KubeObject): void {
    const s = this.store.get(idOf(gkOf(obj.apiVersion, obj.kind), obj.metadata.namespace, obj.metadata.name));
    if (s) this.deleteObject(s, 'Background');
  }

  nextRandom(): Random {
    return this.rng;
  }

  /** Records a Kubernetes Event (identical repeats are counted on one Event, as client-go does). */
  recordEvent(involved: KubeObject, event: EventInput, component: string): void {
    const info = this.discovery.resource(involved.apiVersion, involved.kind);
    const ns = (info?.namespaced ?? true) ? involved.metadata.namespace ?? 'default' : 'default';
    const now = rfc3339(this.clock.now());
    const existing = this.store.list('Event', ns).find((s) => {
      const e = s.obj;
      return e.involvedObject.uid === involved.metadata.uid && e.involvedObject.name === involved.metadata.name
        && e.involvedObject.kind === involved.kind && e.reason === event.reason && e.message === event.message
        && e.type === event.type && e.source?.component === component;
    });
    if (existing) {
      const e = clone(existing.obj);
      e.count = (e.count ?? 1) + 1;
      e.lastTimestamp = now;
      this.internalWrite(e, component);
      return;
    }
    const seq = ++this.eventSeq;
    // Like the apiserver's event TTL (1 h), so a long simulation does not pile them up.
    if (seq % 100 === 0) {
      const horizon = this.clock.now() - 3_600_000;
      for (const s of this.store.list('Event')) if (Date.parse(s.obj.lastTimestamp ?? '') < horizon) this.store.remove(s.id);
    }
    this.internalWrite({
      apiVersion: 'v1', kind: 'Event',
      metadata: {
        name: `${involved.metadata.name}.${(this.clock.now() * 1000 + seq).toString(16)}`, namespace: ns,
        annotations: { 'sim.kgitops.io/seq': String(seq) },
      },
      involvedObject: {
        apiVersion: involved.apiVersion, kind: involved.kind, name: involved.metadata.name,
        ...(involved.metadata.namespace && (info?.namespaced ?? true) ? { namespace: involved.metadata.namespace } : {}),
        ...(involved.metadata.uid ? { uid: involved.metadata.uid } : {}),
        ...(involved.metadata.resourceVersion ? { resourceVersion: involved.metadata.resourceVersion } : {}),
      },
      type: event.type, reason: event.reason, message: event.message,
      source: { component }, reportingComponent: component,
      firstTimestamp: now, lastTimestamp: now, count: 1,
    }, component);
  }
}

function reqOf(o: { apiVersion?: string; kind?: string; name?: string; namespace?: string; metadata?: { name?: string; namespace?: string } }): Omit<SimRequest, 'verb'> {
  const name = o.metadata?.name ?? o.name;
  const namespace = o.metadata?.namespace ?? o.namespace;
  return {
    ...(o.apiVersion ? { apiVersion: o.apiVersion } : {}), ...(o.kind ? { kind: o.kind } : {}),
    ...(name ? { name } : {}), ...(namespace ? { namespace } : {}),
  };
}

function matchesLabels(reqs: ReturnType<typeof parseSelector>, obj: KubeObject): boolean {
  return reqs.length === 0 || matchesRequirements(reqs, obj.metadata.labels);
}

/** What metadata.generation tracks: everything but apiVersion, kind, metadata and status. */
function specPart(o: KubeObject): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, metadata: _m, status: _s, ...rest } = o;
  return rest;
}

function finalizers(o: KubeObject): string[] {
  return Array.isArray(o.metadata.finalizers) ? (o.metadata.finalizers as string[]) : [];
}

function withoutVolatile(o: KubeObject): KubeObject {
  const { managedFields: _mf, resourceVersion: _rv, ...md } = o.metadata;
  return { ...o, metadata: md as KubeObject['metadata'] };
}

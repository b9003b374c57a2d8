/**
 * `kgitops controller`: many Apps, each reconciled as its own work item by the single-app
 * pipeline (engine/reconciler.ts), each as its own ServiceAccount.
 *
 * This file is the "many" half: it watches App resources, keeps one runtime per App (its
 * impersonated cluster, its Reconciler and ReleaseController, its source in the shared repo
 * mirrors), and runs them through a work queue with bounded concurrency and per-App backoff.
 * The "one" half stays where it was: a runtime's reconcile is exactly `kgitops sync --once`,
 * with the App's status as its state store (app-state.ts).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import type { Diagnostic } from '../../dsl/diagnostics.js';
import { DEFAULT_DRIFT_MANAGERS } from '../apply/index.js';
import { LABEL_PART_OF } from '../apply/applyset.js';
import { ApiError, NotServedError } from '../cluster/errors.js';
import { type KubeCluster, serviceAccountUser } from '../cluster/kube.js';
import { type Cluster, type EventInput, type KubeObject, keyOfObjectId, type WatchHandle } from '../cluster/types.js';
import type { Clock } from '../clock.js';
import type { EngineConfig, SandboxConfig } from '../config.js';
import { parseGoDuration } from '../../dsl/cron.js';
import { appSource, canonicalRepo, isLocalRepo } from '../identity.js';
import type { Logger } from '../log.js';
import { redactUrl } from '../log.js';
import { type ReconcileResult, Reconciler } from '../reconciler.js';
import type { DiffResult } from '../diff/index.js';
import type { RenderedObject } from '../../dsl/app.js';
import { type FleetPlanSpec, isFleetPlan } from '../../dsl/fleet-plan.js';
import type { RegisteredCluster } from '../fleet/clusters.js';
import { fleetMessage, FleetRunner } from '../fleet/runner.js';
import { ANNOTATION_FLEET_COMMANDS } from '../fleet/state.js';
import { onReleaseTransitions, ReleaseController } from '../release/controller.js';
import { Sandbox } from '../sandbox/index.js';
import { engineRuntime } from '../synth/dependencies.js';
import { WarmSynthPool } from '../synth/warm.js';
import type { PushEvent } from '../source/webhook.js';
import type { GitAuth } from '../source/git.js';
import {
  APP_API_VERSION, APP_FINALIZER, APP_KIND, type AppObject, AppSpec, appApplySetId, appKey, type ReleaseStatus,
} from './app-resource.js';
import { AppStateStore, writeAppCondition, writeAppHolder, writeAppReleases } from './app-state.js';
import { type FollowingSource, RepoSources } from './sources.js';
import { commitAffects } from '../source/affects.js';
import { WorkQueue } from './queue.js';
import type { LeaseTiming } from './lease.js';
import { ShardManager } from './shards.js';
import { WatchHub } from './informers.js';
import type { EngineMetrics } from '../metrics/index.js';
import { type EventType, githubRepoOf, Notifier, type Receiver } from '../notify/index.js';

export const FINALIZER_MANAGER = 'kgitops-finalizer';
/**
 * Set on an App to ask for a reconcile now (as Flux's reconcile.fluxcd.io/requestedAt): a push
 * that reached another replica is passed on this way; `kubectl annotate` works as well.
 */
export const ANNOTATION_RECONCILE_REQUESTED = 'kgitops.io/reconcile-requested-at';
const DEFAULT_INTERVAL_MS = 5 * 60_000;
/** How soon an App whose objects are still progressing is looked at again (its health, its Ready). */
const SETTLING_RECHECK_MS = 5_000;
/** How long a push's untouched Apps wait, so that the Apps it changed go first (onPush). */
const UNTOUCHED_PUSH_DELAY_MS = 5_000;

export interface ControllerOptions {
  /** The controller's own identity: Apps, their status, Events, and impersonation of ServiceAccounts. */
  readonly cluster: Cluster;
  /** Watch Apps in this namespace only. @default every namespace */
  readonly namespace?: string;
  /** Where the fleets' cluster Secrets are (labelled kgitops.io/cluster): the controller's namespace. @default the Leases' namespace, else kgitops-system */
  readonly clustersNamespace?: string;
  /** The client of a registered cluster (tests: simulated ones). Default: its Secret's kubeconfig. */
  readonly connectCluster?: (c: RegisteredCluster) => Cluster;
  /** The ServiceAccount (in each App's namespace) of Apps that name none, as Flux's --default-service-account. */
  readonly defaultServiceAccount?: string;
  /** Apps that name no ServiceAccount, with no default, act as the controller itself. Never the default. */
  readonly allowControllerIdentity?: boolean;
  /** Apps may name a repo by local path (tests, `npm start`): a tenant could read any repo on the controller's disk. */
  readonly allowLocalRepos?: boolean;
  readonly cacheDir: string;
  /** Apps reconciled at once (each synth is one sandboxed process). @default the number of cores */
  readonly concurrency?: number;
  readonly sandbox: SandboxConfig;
  readonly typecheck?: boolean;
  readonly clock: Clock;
  readonly log: Logger;
  /** Backoff of an App that keeps failing. @default 1 s doubling to 5 min */
  readonly backoff?: { readonly baseMs?: number; readonly maxMs?: number };
  /** Called after every reconcile (tests, benchmarks, metrics). */
  readonly onReconciled?: (key: string, r: ReconcileResult) => void;
  /** Where reconciles, release transitions and gate evaluations are counted (/metrics). */
  readonly metrics?: EngineMetrics;
  /**
   * High availability: the Apps split into shards held through Leases (shards.ts), so that
   * several replicas share them and take over a dead one's. Absent: this process reconciles
   * every App (one replica only).
   */
  readonly sharding?: {
    /** Where the Leases live: the controller's namespace. */
    readonly namespace: string;
    /** Unique per replica. */
    readonly identity: string;
    /** @default 1 (one replica active, the others standing by) */
    readonly shards?: number;
    readonly timing?: LeaseTiming;
  };
}

/** What the controller keeps per App between reconciles. */
interface AppRuntime {
  readonly key: string;
  /** The spec it was built from: a changed spec builds a new runtime. */
  readonly specJson: string;
  readonly identity: string;
  readonly config: EngineConfig;
  readonly cluster: Cluster;
  readonly reconciler: Reconciler;
  readonly releases: ReleaseController;
  readonly repo: string;
  readonly source: FollowingSource;
  readonly followedRef: () => string | undefined;
  readonly releaseStates: Map<string, ReleaseStatus>;
  /** spec.notifications, with their Secrets read. */
  readonly notifier?: Notifier;
  releaseWrite?: ReturnType<typeof setTimeout>;
  lastEvent?: string;
  /** The commit of that Event. */
  lastEventCommit?: string;
  /** When this reconcile was asked for (see Controller.askedAt); undefined for a periodic one. */
  notBefore?: number;
  /** The dashboard asked for the applied commit's change, which this process did not see applied. */
  changeWanted?: boolean;
  /** Why it could not be recalled (for the applied commit of that time). */
  changeError?: { readonly commit: string; readonly message: string };
  /** The App's fleet, once a commit of it declares one: its commits go to the clusters of its waves. */
  fleet?: FleetRunner;
  /** The fleet's state and status as last told to listeners (the dashboard redraws on each). */
  fleetShown?: string;
}

/** A problem with an App itself (its spec, its identity): reported on the App, retried only when it changes. */
class AppProblem extends Error {
  constructor(readonly rule: string, message: string, readonly hint: string) {
    super(message);
  }
}

export class Controller {
  private readonly queue: WorkQueue;
  private readonly runtimes = new Map<string, AppRuntime>();
  private readonly sources: RepoSources;
  private sandbox?: Sandbox;
  private warm?: WarmSynthPool;
  private watch?: WatchHandle;
  private stopped = false;
  private started = false;
  private readonly abort = new AbortController();
  /** Apps last seen (by key) with their generation: a watch event with nothing new enqueues nothing twice. */
  private readonly known = new Map<string, AppObject>();
  private readonly changeListeners = new Set<(key: string) => void>();
  /** When each queued App was asked for (performance.now()): its reconcile fetches unless a fetch started since. */
  private readonly askedAt = new Map<string, number>();
  /** Apps being processed now: a lost shard aborts theirs and waits for them. */
  private readonly inFlight = new Map<string, { readonly abort: AbortController; readonly done: Promise<void> }>();
  private readonly shards?: ShardManager;
  private readonly informers: WatchHub;

  constructor(private readonly o: ControllerOptions) {
    this.queue = new WorkQueue(o.clock, o.backoff);
    this.sources = new RepoSources({ cacheDir: join(o.cacheDir, 'git'), log: (line) => o.log.warn(line) });
    this.informers = new WatchHub({ cluster: o.cluster, clock: o.clock, log: o.log });
    if (o.sharding) {
      // The Leases get a client of their own: renewals never queue behind the Apps' requests.
      const leases = typeof (o.cluster as Partial<KubeCluster>).dedicated === 'function' ? (o.cluster as KubeCluster).dedicated() : o.cluster;
      this.shards = new ShardManager({
        cluster: leases, namespace: o.sharding.namespace, identity: o.sharding.identity, shards: o.sharding.shards ?? 1,
        clock: o.clock, log: o.log, ...(o.sharding.timing ? { timing: o.sharding.timing } : {}),
        onAcquired: (shard) => { for (const key of this.known.keys()) if (this.shards!.shardOf(key) === shard) this.enqueue(key); },
        onLost: (shard) => this.releaseShard(shard),
      });
    }
  }

  /** Undefined once the controller works (Apps listed and watched, leases started); else why not (/readyz). */
  notReady(): string | undefined {
    if (this.stopped) return 'stopping';
    if (!this.started) return 'starting: listing and watching Apps, taking leases';
    return undefined;
  }

  /** The Apps this process holds, as their status last said (for the apps gauge). */
  heldApps(): { sync: string; health: string }[] {
    return [...this.known.entries()].filter(([k]) => !this.shards || this.shards.owns(k))
      .map(([, a]) => ({ sync: a.status?.sync ?? 'Unknown', health: a.status?.health ?? 'Unknown' }));
  }

  /** Every App this replica knows, held or not (the dashboard lists them all). */
  appObjects(): AppObject[] {
    return [...this.known.values()];
  }

  appObject(key: string): AppObject | undefined {
    return this.known.get(key);
  }

  /**
   * The cluster as the App's identity, without the shard fence: for reading its objects, and for
   * a person's release commands (which any replica may pass on; the holder carries them out).
   */
  actingAs(key: string): Cluster | undefined {
    const app = this.known.get(key);
    if (!app) return undefined;
    const identity = this.identityOf(app);
    return identity.user ? impersonate(this.o.cluster, identity.user) : this.o.cluster;
  }

  /**
   * What the App's applied commit changed, as `kgitops diff -o json` has it. A controller that
   * did not apply that commit itself (it restarted, or took the App's shard over) does not know:
   * asking makes the App's next reconcile render the commit applied before it again
   * (`recalling`), and a change event follows.
   */
  appliedChange(key: string): { change?: DiffResult; recalling?: boolean; note?: string } {
    const rt = this.runtimes.get(key);
    if (!rt) {
      return { note: this.shards && !this.shards.owns(key) ? 'another controller replica holds this App: the change is known there' : 'this controller has not reconciled the App yet' };
    }
    // A fleet's commits are applied in its clusters, not here: nothing to recall (asking would
    // reconcile the App on every view of its page).
    if (rt.fleet) return { note: 'a fleet App: its commits are applied in the clusters of its waves (see Fleet)' };
    const change = rt.reconciler.appliedChange();
    if (change) return { change };
    const applied = this.known.get(key)?.status?.appliedCommit;
    if (rt.changeError && rt.changeError.commit === applied) return { note: rt.changeError.message };
    if (!rt.changeWanted) {
      rt.changeWanted = true;
      this.queue.add(key);
    }
    return { recalling: true };
  }

  /** Between two reconciles of the App (they share its checkouts): see appliedChange. */
  private async recallChange(app: AppObject, rt: AppRuntime, log: Logger): Promise<void> {
    rt.changeWanted = false;
    const applied = app.status?.appliedCommit;
    if (!applied) return;
    const previous = (app.status?.history ?? []).find((h) => h.result === 'Succeeded' && h.commit !== applied)?.commit;
    try {
      // Undefined: the reconcile did not render the applied commit (it failed before that).
      if (!await rt.reconciler.recallChange(previous)) throw new Error('this controller has not rendered it (see the App\'s errors)');
    } catch (e) {
      // Recorded, so that showing the App again does not ask for another reconcile.
      rt.changeError = { commit: applied, message: `the change of commit ${applied.slice(0, 12)} cannot be shown: ${(e as Error).message}` };
      log.warn(rt.changeError.message);
    }
    this.changed(rt.key);
  }

  /** Calls `listener` with an App's key whenever the App changes or one of its releases is evaluated. */
  onAppChange(listener: (key: string) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private changed(key: string): void {
    for (const l of this.changeListeners) {
      try { l(key); } catch { /* a listener's failure is its own */ }
    }
  }

  /** Watches shared by the Apps' release controllers (one per kind). */
  get sharedWatches(): number {
    return this.informers.size;
  }

  /** The replica and the shards it holds (undefined without sharding). */
  get sharding(): { identity: string; shards: number[]; replicas: number } | undefined {
    return this.shards ? { identity: this.shards.identity, shards: this.shards.held(), replicas: this.shards.replicaCount } : undefined;
  }

  /** Apps waiting for a worker. */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** Git fetches done so far, over every repo (one fetch serves every App of a repo). */
  get fetches(): number {
    return this.sources.fetches;
  }

  /**
   * Finds the sandbox (refusing to start without one, as `kgitops sync`), checks that Apps are
   * served, then watches them and runs the workers until stop().
   */
  async run(): Promise<void> {
    const s = this.o.sandbox;
    this.sandbox = s.unsafe
      ? Sandbox.unsafe({ warn: (m) => this.o.log.warn(m) })
      : await Sandbox.default({ ...(s.uid !== undefined ? { uid: s.uid } : {}), ...(s.gid !== undefined ? { gid: s.gid } : {}), warn: (m) => this.o.log.warn(m) });
    this.warm = new WarmSynthPool({
      sandbox: this.sandbox, slotsDir: join(this.o.cacheDir, 'sandbox-slots'), binds: [{ source: engineRuntime(this.o.cacheDir) }], limits: s.limits,
    });
    try {
      await this.o.cluster.resource(APP_API_VERSION, APP_KIND);
    } catch (e) {
      if (e instanceof NotServedError) {
        throw new ApiError(`the cluster ${this.o.cluster.name} does not serve ${APP_KIND}s (${APP_API_VERSION}): the App CRD is not installed`, 404, 'NotFound',
          { verb: 'get', resource: 'apps.kgitops.io' }, 'install it: kgitops install | kubectl apply -f - (or kubectl apply -f schemas/kgitops.io_apps.yaml)');
      }
      throw e;
    }
    const hold = setInterval(() => {}, 1 << 30);
    try {
      await this.listAndWatch();
      await this.shards?.start();
      this.started = true;
      await this.queue.run(this.o.concurrency ?? availableParallelism(), (key) => this.process(key));
    } finally {
      clearInterval(hold);
    }
  }

  /** Stops watching and taking work; what is in flight finishes its current requests. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort(new Error('controller stopping'));
    this.watch?.stop();
    this.queue.shutDown();
    for (const rt of this.runtimes.values()) this.teardown(rt);
    this.informers.stop();
    // The shards go back at once (after their Apps stopped): the other replicas need not wait for them to expire.
    await this.shards?.stop();
    this.warm?.close();
  }

  /** A shard lost or given up: its Apps leave the queue, their reconciles are aborted and awaited. */
  private async releaseShard(shard: number): Promise<void> {
    const keys = new Set([...this.known.keys(), ...this.runtimes.keys(), ...this.inFlight.keys()].filter((k) => this.shards!.shardOf(k) === shard));
    for (const key of keys) {
      this.queue.remove(key);
      this.inFlight.get(key)?.abort.abort(new Error(`shard ${shard} is no longer held by this replica`));
    }
    await Promise.all([...keys].map((k) => this.inFlight.get(k)?.done));
    for (const key of keys) {
      const rt = this.runtimes.get(key);
      if (rt) this.teardown(rt);
      this.queue.remove(key);
    }
  }

  /** The cluster for an App's writes: each write first checks that this replica holds its shard. */
  private writer(key: string): Cluster {
    return this.fence(this.o.cluster, key);
  }

  private fence(cluster: Cluster, key: string): Cluster {
    return this.shards ? fenced(cluster, () => this.shards!.owns(key), () => `${this.shards!.identity} does not hold shard ${this.shards!.shardOf(key)} of App ${key}`) : cluster;
  }

  /**
   * Asks for a reconcile of every App that follows this repo and ref (one webhook endpoint for
   * all Apps). The repo is fetched once, here, and the Apps whose path, imports or lockfiles the
   * push touched go to the front of the queue: in a monorepo of a hundred Apps, the one a push
   * changed does not wait behind the ninety-nine it did not (those reconcile after it, without a
   * synth, to record the new commit). Resolves with the Apps asked for, touched ones first.
   */
  async onPush(event: PushEvent): Promise<string[]> {
    const matching = [...this.runtimes.values()].filter((rt) => {
      if (!repoMatches(rt.repo, event.repository)) return false;
      const followed = rt.followedRef();
      return !(event.ref && followed && !refMatches(followed, event.ref));
    });
    const asked = performance.now();
    // Sharded: the push reached this replica, but other replicas hold some of its Apps. They
    // learn of it from an annotation on those Apps (their watch sees it, and they reconcile).
    // Handled at once: it runs while the touched Apps are judged below.
    const forwarded = this.shards
      ? this.forwardPush(event, matching, asked).catch((e) => this.o.log.warn(`could not pass the push on to the other replicas: ${(e as Error).message}`))
      : Promise.resolve();
    for (const rt of matching) if (!this.askedAt.has(rt.key)) this.askedAt.set(rt.key, asked);
    const touched: string[] = [];
    const untouched: string[] = [];
    await Promise.all(matching.map(async (rt) => {
      (await this.touchedByPush(rt, asked) ? touched : untouched).push(rt.key);
    }));
    touched.sort();
    untouched.sort();
    // In reverse, so that the first touched App ends up first.
    for (const key of [...touched].reverse()) this.queue.addFirst(key);
    // The others only record the new commit (no synth): a little later, so that on a small
    // machine the Apps the push changed have the workers, the CPU and the apiserver first.
    for (const key of untouched) this.queue.addAfter(key, touched.length ? UNTOUCHED_PUSH_DELAY_MS : 0);
    await forwarded;
    const keys = [...touched, ...untouched];
    this.o.log.info({ repository: event.repository, ref: event.ref, apps: keys.length, touched: touched.length },
      keys.length ? `webhook push: reconciling ${touched.length ? `first ${touched.join(', ')}` : 'no App it touches'}${untouched.length ? `, then ${untouched.length} App(s) it does not touch` : ''}` : 'webhook push: no App follows it');
    return keys;
  }

  /**
   * Asks the holders of the push's Apps that are not ours to reconcile them
   * (ANNOTATION_RECONCILE_REQUESTED): first the Apps the push touches, judged by the dependencies
   * in their status against this replica's fetch of the repo, then, a little later, the rest.
   */
  private async forwardPush(event: PushEvent, local: AppRuntime[], asked: number): Promise<void> {
    const at = new Date(this.o.clock.now()).toISOString();
    const others = [...this.known.entries()].filter(([key, app]) => !this.shards!.owns(key) && repoMatches(canonicalRepo(app.spec?.source?.repo ?? ''), event.repository)
      && !(event.ref && app.spec.source.ref && !refMatches(app.spec.source.ref, event.ref)));
    if (!others.length) return;
    const changedSince = new Map<string, Promise<readonly string[]>>();
    const touches = async (app: AppObject): Promise<boolean> => {
      const deps = app.status?.dependencies;
      // Only a local App that follows the same ref sees the same head.
      const rt = local.find((r) => (this.known.get(r.key)?.spec.source.ref ?? '') === (app.spec.source.ref ?? ''));
      if (!deps || !rt || deps.commit !== app.status?.appliedCommit) return true;
      try {
        rt.notBefore = asked;
        const head = (await rt.source.fetch()).sha;
        if (head === deps.commit) return false;
        if (!changedSince.has(deps.commit)) changedSince.set(deps.commit, rt.source.changedPaths(deps.commit, head));
        return commitAffects({ appPath: app.spec.source.path ?? '.', dependencies: deps.files, changed: await changedSince.get(deps.commit)! }).affected;
      } catch {
        return true;
      }
    };
    const touched: [string, AppObject][] = [];
    const untouched: [string, AppObject][] = [];
    await Promise.all(others.map(async (entry) => (await touches(entry[1]) ? touched : untouched).push(entry)));
    const ask = (list: [string, AppObject][]) => Promise.all(list.map(([key, app]) => this.o.cluster.apply({
      apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: app.metadata.name, namespace: app.metadata.namespace, annotations: { [ANNOTATION_RECONCILE_REQUESTED]: at } },
    }, { fieldManager: 'kgitops-webhook', force: true }).catch((e) => this.o.log.warn({ app: key }, `could not pass the push on to the App's replica: ${(e as Error).message}`))));
    await ask(touched);
    if (untouched.length) {
      if (touched.length) this.o.clock.setTimer(UNTOUCHED_PUSH_DELAY_MS, () => { if (!this.stopped) void ask(untouched); });
      else await ask(untouched);
    }
    this.o.log.info({ apps: others.length, touched: touched.length }, `webhook push: asked the replicas holding ${others.length} other App(s) to reconcile them (${touched.length} it touches first)`);
  }

  /** Whether the commit the push brought can change the App's render (unknown: yes). */
  private async touchedByPush(rt: AppRuntime, asked: number): Promise<boolean> {
    const applied = this.known.get(rt.key)?.status?.appliedCommit;
    const dependencies = applied ? rt.reconciler.dependenciesOf(applied) : undefined;
    if (!applied || !dependencies) return true;
    try {
      // The shared fetch: every App of the repo asks for one that started after `asked`, so the
      // first starts it and the rest wait for it (the workers then reuse it, too).
      rt.notBefore = asked;
      const head = (await rt.source.fetch()).sha;
      if (head === applied) return false;
      return commitAffects({ appPath: rt.config.path, dependencies, changed: await rt.source.changedPaths(applied, head) }).affected;
    } catch {
      return true; // the reconcile reports the fetch's failure
    }
  }

  /** Reconciles an App now, fetching its repo again (tests, `kgitops` commands through the controller). */
  trigger(key: string): void {
    this.enqueue(key);
  }

  /** Queues an App, remembering when it was first asked for since its last reconcile. */
  private enqueue(key: string): void {
    if (!this.askedAt.has(key)) this.askedAt.set(key, performance.now());
    this.queue.add(key);
  }

  private async listAndWatch(): Promise<void> {
    if (this.stopped) return;
    const ns = this.o.namespace ? { namespace: this.o.namespace } : {};
    const list = await this.o.cluster.list(APP_API_VERSION, APP_KIND, ns);
    const seen = new Set<string>();
    for (const item of list.items) {
      const app = item as unknown as AppObject;
      seen.add(appKey(app));
      this.observe(app);
    }
    for (const key of [...this.known.keys()]) if (!seen.has(key)) this.forgetApp(key);
    this.watch = await this.o.cluster.watch(APP_API_VERSION, APP_KIND, { ...ns, resourceVersion: list.resourceVersion }, (e) => {
      const app = e.object as unknown as AppObject;
      if (e.type === 'DELETED') this.forgetApp(appKey(app));
      else this.observe(app);
    });
    // A watch ends (a timeout, 410 Gone, a restarted apiserver): list again and watch from there.
    this.watch.done.catch(() => {}).finally(() => {
      if (this.stopped) return;
      const retry = () => this.listAndWatch().catch((e) => {
        this.o.log.warn(`watching Apps failed, retrying in 2 s: ${(e as Error).message}`);
        this.o.clock.setTimer(2_000, retry);
      });
      this.o.clock.setTimer(200, retry);
    });
  }

  /** An App added or changed: enqueue it when its spec, deletion or finalizers changed (status writes are ours). */
  private observe(app: AppObject): void {
    const key = appKey(app);
    const before = this.known.get(key);
    this.known.set(key, app);
    this.changed(key);
    const same = before && before.metadata.generation === app.metadata.generation && !!before.metadata.deletionTimestamp === !!app.metadata.deletionTimestamp
      && (before.metadata.finalizers ?? []).join() === (app.metadata.finalizers ?? []).join();
    const requested = before && before.metadata.annotations?.[ANNOTATION_RECONCILE_REQUESTED] !== app.metadata.annotations?.[ANNOTATION_RECONCILE_REQUESTED];
    // A fleet command (approve a wave, pause, resume, abort) is carried out by the next pass: now.
    const commanded = before && before.metadata.annotations?.[ANNOTATION_FLEET_COMMANDS] !== app.metadata.annotations?.[ANNOTATION_FLEET_COMMANDS];
    if (commanded) {
      this.queue.addFirst(key);
      return;
    }
    if (same && !requested) return;
    const rt = this.runtimes.get(key);
    if (same && requested && rt && (!this.shards || this.shards.owns(key))) {
      // A push passed on by another replica: as onPush, an App the commit touches goes first
      // (the Apps of one repo share one fetch for this check).
      const asked = performance.now();
      if (!this.askedAt.has(key)) this.askedAt.set(key, asked);
      void this.touchedByPush(rt, asked).then((touched) => (touched ? this.queue.addFirst(key) : this.enqueue(key)));
      return;
    }
    this.enqueue(key);
  }

  private forgetApp(key: string): void {
    this.known.delete(key);
    this.changed(key);
    this.queue.remove(key);
    const rt = this.runtimes.get(key);
    if (rt) this.teardown(rt);
  }

  private teardown(rt: AppRuntime): void {
    rt.fleet?.close();
    rt.releases.stop();
    rt.notifier?.close();
    rt.reconciler.close();
    if (rt.releaseWrite) clearTimeout(rt.releaseWrite);
    if (this.runtimes.get(rt.key) === rt) this.runtimes.delete(rt.key);
  }

  /** One work item, while this replica holds the App's shard (another replica's Apps are not ours to touch). */
  private async process(key: string): Promise<void> {
    if (this.stopped || (this.shards && !this.shards.owns(key))) return;
    const abort = new AbortController();
    const stop = () => abort.abort(this.abort.signal.reason);
    this.abort.signal.addEventListener('abort', stop, { once: true });
    let finish!: () => void;
    this.inFlight.set(key, { abort, done: new Promise<void>((r) => { finish = r; }) });
    try {
      await this.processOwned(key, abort.signal);
    } finally {
      this.abort.signal.removeEventListener('abort', stop);
      this.inFlight.delete(key);
      finish();
      // Lost meanwhile: nothing of it stays queued here.
      if (this.shards && !this.shards.owns(key)) this.queue.remove(key);
    }
  }

  /** Says in the App's status that this replica holds it, unless the reconcile just did. */
  private async recordHolder(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const app = await this.o.cluster.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace, name }).catch(() => undefined) as AppObject | undefined;
    if (!app?.status || app.status.heldBy?.replica === this.shards!.identity) return;
    await writeAppHolder(this.writer(key), app, { replica: this.shards!.identity, shard: this.shards!.shardOf(key) })
      .catch((e) => this.o.log.warn({ app: key }, `could not record the App's new holder: ${(e as Error).message}`));
  }

  /** Everything the controller does for one App, once. */
  private async processOwned(key: string, signal: AbortSignal): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    let app: AppObject | undefined;
    try {
      app = await this.o.cluster.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace, name }) as AppObject | undefined;
    } catch (e) {
      this.o.log.error({ app: key }, `cannot read the App: ${(e as Error).message}`);
      this.queue.addRateLimited(key);
      return;
    }
    if (!app) {
      this.forgetApp(key);
      return;
    }
    const log = this.o.log.child({ app: key });
    try {
      if (app.metadata.deletionTimestamp) {
        await this.finalize(app, log);
        return;
      }
      const problems = specProblems(app);
      if (problems.length) throw new AppProblem('app/invalid-spec', `spec is invalid: ${problems.join('; ')}`, 'fix the App (kubectl edit apps.kgitops.io ...): its schema is in schemas/kgitops.io_apps.yaml');
      if (!(app.metadata.finalizers ?? []).includes(APP_FINALIZER)) await this.addFinalizer(app);
      if (app.spec.suspend) {
        const rt = this.runtimes.get(key);
        if (rt) this.teardown(rt);
        if (app.status?.sync !== 'Suspended' || app.status.observedGeneration !== app.metadata.generation) {
          await writeAppCondition(this.writer(key), app, { sync: 'Suspended', message: 'suspended: no reconciles and no release steps until spec.suspend is false' });
          await this.event(app, { type: 'Normal', reason: 'Suspended', message: 'reconciles and releases stopped (spec.suspend)' });
        }
        return;
      }
      const rt = await this.runtimeFor(app, log);
      rt.notBefore = this.askedAt.get(key);
      this.askedAt.delete(key);
      const r = await rt.reconciler.reconcile(signal);
      this.o.onReconciled?.(key, r);
      this.o.metrics?.reconciled(key, r);
      await this.reportResult(app, rt, r);
      if (rt.changeWanted && r.result !== 'Interrupted') await this.recallChange(this.known.get(key) ?? app, rt, log);
      if (this.shards && app.status && app.status.heldBy?.replica !== this.shards.identity) await this.recordHolder(key);
      if (r.result === 'Failed' && !stalled(r)) {
        const delay = this.queue.addRateLimited(key);
        log.info(`retrying in ${Math.round(delay / 1000)} s (${this.queue.retries(key)} failure(s) in a row)`);
      } else {
        this.queue.forget(key);
        // The App's health is recorded by reconciles: while objects are still becoming ready,
        // look again soon rather than report Progressing until the next interval.
        const settling = r.result !== 'Failed' && r.objects.some((o) => o.health === 'Progressing' || o.health === 'Missing');
        // A re-check of the same commit is cheap (its render is cached): it goes to the front.
        if (settling) this.queue.addAfter(key, Math.min(rt.config.intervalMs, SETTLING_RECHECK_MS), true);
        else this.queue.addAfter(key, rt.config.intervalMs);
      }
    } catch (e) {
      if (e instanceof AppProblem) {
        log.error(e.message);
        const d: Diagnostic = { severity: 'error', rule: e.rule, message: e.message, hint: e.hint };
        await writeAppCondition(this.writer(key), app, { sync: 'Failed', message: `${e.message}; ${e.hint}`, errors: [d], stalled: true }).catch(() => {});
        await this.event(app, { type: 'Warning', reason: 'InvalidApp', message: `${e.message}; ${e.hint}` });
        return; // a change to the App (or its ServiceAccount's creation, on the next resync) brings it back
      }
      if (e instanceof NotShardHolderError) {
        log.info(`stopped: ${e.message}`);
        return; // the holder of the shard carries on
      }
      log.error(`reconcile failed: ${(e as Error).message}`);
      this.queue.addRateLimited(key);
    }
  }

  /** Who an App acts as: its ServiceAccount, the default one, or (only when allowed) the controller. */
  private identityOf(app: AppObject): { user?: string; describe: string } {
    const sa = app.spec.serviceAccountName ?? this.o.defaultServiceAccount;
    if (sa) return { user: serviceAccountUser(app.metadata.namespace, sa), describe: `ServiceAccount ${app.metadata.namespace}/${sa}` };
    if (this.o.allowControllerIdentity) return { describe: 'the controller\'s own identity (--allow-controller-identity)' };
    throw new AppProblem('app/no-service-account', 'the App names no spec.serviceAccountName and the controller has no --default-service-account',
      'set spec.serviceAccountName to a ServiceAccount in the App\'s namespace with the rights its objects need');
  }

  private async runtimeFor(app: AppObject, log: Logger): Promise<AppRuntime> {
    const key = appKey(app);
    const specJson = JSON.stringify(app.spec);
    const existing = this.runtimes.get(key);
    if (existing && existing.specJson === specJson) return existing;
    if (existing) this.teardown(existing);

    const identity = this.identityOf(app);
    if (identity.user) await this.checkServiceAccount(app);
    const cluster = onReleaseTransitions(this.fence(identity.user ? impersonate(this.o.cluster, identity.user) : this.o.cluster, key), (e, workload) => {
      this.o.metrics?.releaseSteps.inc({ reason: e.reason });
      const commit = this.known.get(key)?.status?.appliedCommit;
      rt?.notifier?.notify({ type: 'release', app: key, workload, reason: e.reason, message: e.message, ...(commit ? { commit } : {}) });
      void this.event(app, e);
    });
    if (isLocalRepo(app.spec.source.repo) && !this.o.allowLocalRepos) {
      throw new AppProblem('app/local-repo', `spec.source.repo "${app.spec.source.repo}" is a path on the controller's disk`, 'use a git URL (https://, ssh:// or git@host:path); local paths are for tests (--allow-local-repos)');
    }
    const auth = await this.credentials(app, cluster);
    const receivers = await this.receivers(app, cluster);
    const config = engineConfigOf(app, this.o);
    const source = this.sources.source({ url: config.repo, ref: config.ref, auth, authKey: auth ? `${key}@${app.metadata.resourceVersion}` : undefined, notBefore: () => rt?.notBefore });
    let rt!: AppRuntime;
    const releases = new ReleaseController({
      cluster, clock: this.o.clock, log,
      // One watch per kind for all the Apps of this replica (made as the controller: it only wakes the App's release controller up).
      sharedWatch: (apiVersion, kind, namespace, onEvent, onRestart) => this.informers.subscribe(apiVersion, kind, namespace, onEvent, onRestart),
      requestReconcile: () => this.enqueue(key),
      onEvaluated: (k, d, plan) => {
        if (!d) return;
        const s = d.state;
        this.o.metrics?.gatesEvaluated(plan, d);
        this.changed(key);
        const waiting = Object.entries(s.gates).find(([, g]) => g.status !== 'Passed');
        rt.releaseStates.set(`${k.kind} ${k.namespace ? `${k.namespace}/` : ''}${k.name}`, {
          id: s.id, workload: `${k.kind} ${k.namespace ? `${k.namespace}/` : ''}${k.name}`, step: s.step + 1, steps: s.steps, phase: s.pause ? 'Paused' : s.phase,
          ...(waiting ? { waitingOn: waiting[1].message.slice(0, 200) } : {}),
        });
        this.scheduleReleaseWrite(rt);
      },
    });
    const store = new AppStateStore({
      cluster: this.writer(key), namespace: app.metadata.namespace, name: app.metadata.name, serviceAccount: identity.describe,
      dependencies: (commit) => reconciler.dependenciesOf(commit),
      ...(this.shards ? { heldBy: () => ({ replica: this.shards!.identity, shard: this.shards!.shardOf(key) }) } : {}),
    });
    const reconciler = new Reconciler(config, cluster, source, this.o.clock, log, releases, {
      store, warm: this.warm, sandbox: this.sandbox,
      divert: (o) => this.fleetOf(rt, app, identity.user, log, o),
      unchanged: async ({ rendered, next, path, inputs }) => {
        const verdict = commitAffects({ appPath: path, dependencies: inputs, changed: await source.changedPaths(rendered, next) });
        if (verdict.affected) log.info({ commit: next.slice(0, 12) }, `synthesizing again: ${verdict.because}`);
        return !verdict.affected;
      },
    });
    rt = {
      key, specJson, identity: identity.describe, config, cluster, reconciler, releases, repo: canonicalRepo(config.repo), source,
      followedRef: () => source.followedRef(), releaseStates: new Map(),
      ...(receivers.length ? { notifier: new Notifier({ receivers, clock: this.o.clock, log }) } : {}),
    };
    this.runtimes.set(key, rt);
    log.info({ repo: redactUrl(config.repo), path: config.path, as: identity.describe }, 'App runtime ready');
    return rt;
  }

  /**
   * A commit that declares a Fleet goes to the clusters of its waves (engine/fleet/runner.ts),
   * never to this cluster; a commit that no longer declares one ends the App's fleet here.
   */
  private async fleetOf(rt: AppRuntime, app: AppObject, user: string | undefined, log: Logger, o: { sha: string; objects: readonly RenderedObject[]; signal?: AbortSignal }): Promise<Omit<ReconcileResult, 'durationMs' | 'writes'> | undefined> {
    const plan = o.objects.find((x) => isFleetPlan(x.manifest));
    if (!plan) {
      rt.fleet?.close();
      rt.fleet = undefined;
      return undefined;
    }
    const key = rt.key;
    rt.fleet ??= new FleetRunner({
      key, app: () => this.known.get(key) ?? app, config: rt.config, source: rt.source, management: this.writer(key),
      namespace: this.o.clustersNamespace ?? this.o.sharding?.namespace ?? 'kgitops-system',
      ...(user ? { user } : {}),
      ...(this.o.connectCluster ? { connect: this.o.connectCluster } : {}),
      wrap: (c) => this.fence(c, key),
      clock: this.o.clock, log, reconciler: { warm: this.warm, sandbox: this.sandbox },
      event: (e) => this.event(this.known.get(key) ?? app, e),
      requestReconcile: (afterMs) => (afterMs ? this.queue.addAfter(key, afterMs) : this.queue.add(key)),
    });
    const { state, status } = await rt.fleet.run(o.sha, plan.manifest.spec as FleetPlanSpec, o.signal);
    // Told only when something shows a difference: a fleet waiting on a gate is reconciled often,
    // and every notice redraws the pages that show the App (their buttons would never hold still).
    const shown = JSON.stringify({ state, status });
    if (shown !== rt.fleetShown) {
      rt.fleetShown = shown;
      this.changed(key);
    }
    return { result: 'NoChange', commit: o.sha, message: fleetMessage(state, status), changes: { created: 0, updated: 0, pruned: 0, unchanged: 0, driftCorrected: 0 }, drift: [], errors: [], objects: [] };
  }

  /** The ServiceAccount must exist: impersonating a missing one fails every request with a 403 that does not say why. */
  private async checkServiceAccount(app: AppObject): Promise<void> {
    const name = app.spec.serviceAccountName ?? this.o.defaultServiceAccount!;
    try {
      const sa = await this.o.cluster.get({ apiVersion: 'v1', kind: 'ServiceAccount', namespace: app.metadata.namespace, name });
      if (!sa) {
        throw new AppProblem('app/service-account-missing', `ServiceAccount ${app.metadata.namespace}/${name} does not exist`,
          `create it and bind it to the roles the App's objects need (kubectl create serviceaccount -n ${app.metadata.namespace} ${name}), or set spec.serviceAccountName`);
      }
    } catch (e) {
      if (e instanceof AppProblem) throw e;
      // The controller may not be allowed to read ServiceAccounts: the requests themselves will tell.
    }
  }

  /**
   * The repo credentials of spec.source.secretRef, read as the App's own identity from its own
   * namespace: the controller itself reads no tenant Secret, and an App cannot name another
   * namespace's. An SSH key is written to a file of the controller's cache (outside every sandbox).
   */
  private async credentials(app: AppObject, cluster: Cluster): Promise<GitAuth | undefined> {
    const ref = app.spec.source.secretRef;
    if (!ref) return undefined;
    let secret: KubeObject | undefined;
    try {
      secret = await cluster.get({ apiVersion: 'v1', kind: 'Secret', namespace: app.metadata.namespace, name: ref.name });
    } catch (e) {
      throw new AppProblem('app/secret-unreadable', `cannot read Secret ${app.metadata.namespace}/${ref.name} (spec.source.secretRef): ${(e as Error).message}`,
        'let the App\'s ServiceAccount get that Secret (a Role with get on secrets, resourceNames: [the secret])');
    }
    if (!secret) throw new AppProblem('app/secret-missing', `Secret ${app.metadata.namespace}/${ref.name} (spec.source.secretRef) does not exist`, 'create it with a key token (https) or identity (an SSH private key)');
    const data = (secret.data ?? {}) as Record<string, string>;
    const text = (k: string) => (data[k] ? Buffer.from(data[k], 'base64').toString('utf8') : undefined);
    if (text('identity')) {
      const dir = join(this.o.cacheDir, 'credentials', app.metadata.namespace, app.metadata.name);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, 'identity'), text('identity')!, { mode: 0o600 });
      const knownHosts = text('known_hosts');
      if (knownHosts) writeFileSync(join(dir, 'known_hosts'), knownHosts, { mode: 0o600 });
      return { type: 'ssh', keyFile: join(dir, 'identity'), ...(knownHosts ? { knownHostsFile: join(dir, 'known_hosts') } : {}) };
    }
    if (text('token')) return { type: 'token', token: text('token')!, ...(text('username') ? { username: text('username')! } : {}) };
    throw new AppProblem('app/secret-empty', `Secret ${app.metadata.namespace}/${ref.name} has neither a key token nor identity`, 'put the https token in key token, or an SSH private key in key identity');
  }

  /**
   * spec.notifications with their credentials, read as the App's identity from its namespace
   * (as the repo credentials): the controller reads no tenant Secret itself.
   */
  private async receivers(app: AppObject, cluster: Cluster): Promise<Receiver[]> {
    const out: Receiver[] = [];
    for (const [i, n] of (app.spec.notifications ?? []).entries()) {
      const where = `spec.notifications[${i}]`;
      const secret = async (defaultKey: string): Promise<string | undefined> => {
        if (!n.secretRef) return undefined;
        const key = n.secretRef.key ?? defaultKey;
        let s: KubeObject | undefined;
        try {
          s = await cluster.get({ apiVersion: 'v1', kind: 'Secret', namespace: app.metadata.namespace, name: n.secretRef.name });
        } catch (e) {
          throw new AppProblem('app/secret-unreadable', `cannot read Secret ${app.metadata.namespace}/${n.secretRef.name} (${where}.secretRef): ${(e as Error).message}`,
            'let the App\'s ServiceAccount get that Secret (a Role with get on secrets, resourceNames: [the secret])');
        }
        const v = (s?.data as Record<string, string> | undefined)?.[key];
        if (!v) throw new AppProblem('app/secret-missing', `Secret ${app.metadata.namespace}/${n.secretRef.name} (${where}.secretRef) ${s ? `has no key ${key}` : 'does not exist'}`, `create it with the key ${key}`);
        return Buffer.from(v, 'base64').toString('utf8').trim();
      };
      const unknown = (n.events ?? []).find((e) => !['applied', 'failed', 'release'].includes(e));
      if (unknown !== undefined) throw new AppProblem('app/invalid-spec', `${where}.events: "${unknown}" is not an event`, 'use applied, failed and release');
      const events = n.events ? { events: n.events as EventType[] } : {};
      if (n.type === 'webhook') {
        if (!n.url) throw new AppProblem('app/invalid-spec', `${where}: a webhook needs url`, 'set url to where events are POSTed');
        const token = await secret('token');
        out.push({ type: 'webhook', url: n.url, ...(token ? { token } : {}), ...events });
      } else if (n.type === 'slack') {
        const url = n.url ?? await secret('address');
        if (!url) throw new AppProblem('app/invalid-spec', `${where}: a slack notification needs secretRef (the incoming webhook URL, key address)`, 'put the URL in a Secret: it is the credential');
        out.push({ type: 'slack', url, ...events });
      } else if (n.type === 'github') {
        const repo = n.repo ?? githubRepoOf(app.spec.source.repo);
        if (!repo) throw new AppProblem('app/invalid-spec', `${where}: github needs repo (owner/name): spec.source.repo is not on github.com`, 'set repo: owner/name');
        const token = await secret('token');
        if (!token) throw new AppProblem('app/invalid-spec', `${where}: github needs secretRef (a token that may write commit statuses)`, 'create a Secret with key token and name it in secretRef');
        out.push({ type: 'github', repo, token, apiUrl: n.apiUrl ?? 'https://api.github.com', ...events });
      } else {
        throw new AppProblem('app/invalid-spec', `${where}.type: "${n.type}" is not a notification type`, 'use webhook, slack or github');
      }
    }
    return out;
  }

  private async addFinalizer(app: AppObject): Promise<void> {
    await this.writer(appKey(app)).apply({
      apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: app.metadata.name, namespace: app.metadata.namespace, finalizers: [APP_FINALIZER] },
    }, { fieldManager: FINALIZER_MANAGER });
  }

  /**
   * A deleted App: prune every object of its inventory that still carries its ApplySet label,
   * as its own identity (what it may not delete stays, and the App says so), or orphan them all
   * when prune.enabled is false; then let the App go.
   */
  private async finalize(app: AppObject, log: Logger): Promise<void> {
    const key = appKey(app);
    const rt = this.runtimes.get(key);
    if (rt) this.teardown(rt);
    if (!(app.metadata.finalizers ?? []).includes(APP_FINALIZER)) return;
    const entries = app.status?.inventory?.entries ?? [];
    if (app.spec.prune?.enabled !== false && entries.length) {
      let cluster: Cluster = this.writer(key);
      try {
        const identity = this.identityOf(app);
        if (identity.user) cluster = this.fence(impersonate(this.o.cluster, identity.user), key);
      } catch (e) {
        log.warn(`deleting the App's objects as the controller: ${(e as Error).message}`);
      }
      const id = appApplySetId(app.metadata.namespace, app.metadata.name);
      const failed: string[] = [];
      let deleted = 0;
      for (const e of entries) {
        const objKey = keyOfObjectId(e.id, e.v);
        try {
          const live = await cluster.get(objKey);
          // Only what is still ours: an object relabelled or re-created by someone else stays.
          if (!live || live.metadata.labels?.[LABEL_PART_OF] !== id) continue;
          if (await cluster.delete(objKey, { uid: live.metadata.uid })) deleted++;
        } catch (err) {
          failed.push(`${e.id}: ${(err as Error).message}`);
        }
      }
      if (failed.length) {
        const message = `deleting the App: ${failed.length} object(s) could not be pruned (${failed.slice(0, 3).join('; ')}); retrying`;
        log.error(message);
        await this.event(app, { type: 'Warning', reason: 'PruneFailed', message });
        await writeAppCondition(this.writer(key), app, { sync: 'Failed', message }).catch(() => {});
        this.queue.addRateLimited(key);
        return;
      }
      log.info(`App deleted: pruned ${deleted} object(s)`);
      await this.event(app, { type: 'Normal', reason: 'Pruned', message: `App deleted: pruned ${deleted} object(s)` });
    } else if (entries.length) {
      log.info(`App deleted: ${entries.length} object(s) orphaned (spec.prune.enabled: false)`);
      await this.event(app, { type: 'Normal', reason: 'Orphaned', message: `App deleted: ${entries.length} object(s) left in place (spec.prune.enabled: false)` });
    }
    await this.writer(key).apply({
      apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: app.metadata.name, namespace: app.metadata.namespace, finalizers: [] },
    }, { fieldManager: FINALIZER_MANAGER });
    this.queue.remove(key);
  }

  private async reportResult(app: AppObject, rt: AppRuntime, r: ReconcileResult): Promise<void> {
    const c = r.changes;
    const changed = c.created + c.updated + c.pruned + c.driftCorrected > 0;
    const e: EventInput = r.result === 'Failed'
      ? { type: 'Warning', reason: 'ReconcileFailed', message: [r.message, ...r.errors.slice(0, 3).map((x) => x.message)].join('; ') }
      : { type: 'Normal', reason: changed ? 'Applied' : 'InSync', message: r.message };
    // Every result is an event, but not the same one every interval, nor an "in sync" for a commit
    // whose apply (or recording) was already one: a steady App writes nothing.
    const sig = `${e.reason}:${e.message}`;
    if (sig === rt.lastEvent) return;
    if (r.result === 'NoChange' && r.commit && rt.lastEventCommit === r.commit && !rt.lastEvent?.startsWith('ReconcileFailed:')) return;
    rt.lastEvent = sig;
    rt.lastEventCommit = r.commit;
    if (r.result === 'Failed') rt.notifier?.notify({ type: 'failed', app: rt.key, message: e.message, ...(r.commit ? { commit: r.commit } : {}) });
    else if (changed && r.commit) rt.notifier?.notify({ type: 'applied', app: rt.key, commit: r.commit, message: r.message });
    await this.event(app, e);
  }

  private scheduleReleaseWrite(rt: AppRuntime): void {
    if (rt.releaseWrite) return;
    rt.releaseWrite = setTimeout(() => {
      rt.releaseWrite = undefined;
      const [namespace, name] = rt.key.split('/') as [string, string];
      const list = [...rt.releaseStates.values()];
      // Finished releases are reported once, then leave the status.
      for (const [k, r] of rt.releaseStates) if (r.phase !== 'Progressing' && r.phase !== 'Paused') rt.releaseStates.delete(k);
      writeAppReleases(this.writer(rt.key), { namespace, name }, list).catch((e) => this.o.log.warn({ app: rt.key }, `could not record the releases on the App: ${(e as Error).message}`));
    }, 500);
    rt.releaseWrite.unref?.();
  }

  private event(app: AppObject, e: EventInput): Promise<void> {
    return this.writer(appKey(app)).event(app as unknown as KubeObject, e, 'kgitops-controller');
  }
}

/** The App's spec against its schema: each problem with its JSON path. */
export function specProblems(app: AppObject): string[] {
  return [...Value.Errors(AppSpec, app.spec ?? {})].slice(0, 5).map((e) => `spec${e.path.replace(/\//g, '.')}: ${e.message}`);
}

/** The single-app configuration of an App: what `kgitops sync` would get from its flags. */
export function engineConfigOf(app: AppObject, o: Pick<ControllerOptions, 'cacheDir' | 'sandbox' | 'typecheck'>): EngineConfig {
  const s = app.spec;
  const path = s.source.path ?? '.';
  const seconds = (v: string | undefined, d: number) => (v ? Math.round((parseGoDuration(v) ?? d / 1000) * 1000) : d);
  let approvers: EngineConfig['approvers'];
  if (s.approvers?.sshAllowedSigners) {
    const dir = join(o.cacheDir, 'approvers', app.metadata.namespace, app.metadata.name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'allowed_signers'), s.approvers.sshAllowedSigners);
    approvers = { sshAllowedSigners: join(dir, 'allowed_signers') };
  }
  return {
    app: app.metadata.name, appDerived: false, source: appSource(s.source.repo, path), repo: s.source.repo,
    ...(s.source.ref ? { ref: s.source.ref } : {}), path,
    intervalMs: seconds(s.source.interval, DEFAULT_INTERVAL_MS), cluster: {},
    namespace: s.targetNamespace ?? app.metadata.namespace, parentNamespace: app.metadata.namespace,
    prune: { enabled: s.prune?.enabled ?? true, maxFraction: s.prune?.maxFraction ?? 0.5, allowMass: false },
    forceConflicts: false, driftManagers: DEFAULT_DRIFT_MANAGERS, cacheDir: o.cacheDir,
    synthTimeoutMs: seconds(s.timeout, 120_000), typecheck: o.typecheck ?? true, sandbox: o.sandbox,
    ...(approvers ? { approvers } : {}),
  };
}

/** A failed reconcile that the same commit and spec will fail again: no retries until something changes. */
function stalled(r: ReconcileResult): boolean {
  return r.errors.length > 0 && r.errors.every((e) => /^(synth|schema|policy|validate|typecheck|apply\/(not-owned|state-object|foreign-owner|forbidden)|prune\/mass-deletion)/.test(e.rule));
}

function impersonate(cluster: Cluster, user: string): Cluster {
  const kube = cluster as Partial<KubeCluster>;
  if (typeof kube.impersonating === 'function') return kube.impersonating({ user });
  // The simulated cluster has no RBAC: it acts as anyone, and says it is a simulation everywhere.
  return cluster;
}

/** Thrown by a write for an App whose shard this replica does not hold (any more). */
export class NotShardHolderError extends Error {}

/**
 * A cluster whose writes check `mayWrite` first: a replica that lost an App's shard (its lease
 * not renewed within the deadline) writes nothing more for it, even from a reconcile in flight.
 * Events are dropped silently (they never throw).
 */
function fenced(cluster: Cluster, mayWrite: () => boolean, why: () => string): Cluster {
  const f = Object.create(cluster) as Cluster;
  const check = () => { if (!mayWrite()) throw new NotShardHolderError(why()); };
  f.apply = async (obj, options) => { if (!options.dryRun) check(); return cluster.apply(obj, options); };
  f.applyStatus = async (obj, options) => { if (!options.dryRun) check(); return cluster.applyStatus(obj, options); };
  f.delete = async (key, options) => { check(); return cluster.delete(key, options); };
  f.event = async (involved, e, component) => { if (mayWrite()) await cluster.event(involved, e, component); };
  return f;
}

/** A push's repository (org/shop, or a URL) against an App's canonical repo (github.com/org/shop). */
export function repoMatches(canonical: string, repository: string | undefined): boolean {
  if (!repository) return true;
  // GitHub and GitLab send `org/name` (full_name): a name, not a local path.
  const r = (/^[\w.-]+(\/[\w.-]+)+$/.test(repository) && !repository.startsWith('/') ? repository.replace(/\.git$/, '') : canonicalRepo(repository)).toLowerCase();
  const c = canonical.toLowerCase();
  return c === r || c.endsWith(`/${r}`);
}

/** A pushed ref (refs/heads/main) against the ref an App follows (main, refs/heads/main, a tag). */
export function refMatches(followed: string, pushed: string): boolean {
  return pushed === followed || pushed === `refs/heads/${followed}` || pushed === `refs/tags/${followed}`;
}

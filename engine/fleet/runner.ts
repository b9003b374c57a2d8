/**
 * One App's fleet: what the controller does for an App whose commit declares a Fleet, instead of
 * applying it to its own cluster. Each registered cluster gets a reconciler of its own (the same
 * pipeline as a single-cluster App: synth in the sandbox, validate, plan, apply, prune, and the
 * workloads' own partition releases, all as the App's ServiceAccount there), pinned to the commit
 * the fleet release gives that cluster. The fleet release itself (engine/fleet/machine.ts) is
 * decided here from what those reconciles report, and kept in the App's status (status.fleet)
 * in the management cluster.
 *
 * A cluster that does not answer only holds its own wave: its reconcile fails fast, and the
 * others' reconciles go on.
 */
import type { FleetPlanSpec } from '../../dsl/fleet-plan.js';
import { type Cluster, type KubeObject } from '../cluster/types.js';
import type { Clock } from '../clock.js';
import type { EngineConfig } from '../config.js';
import { APP_API_VERSION, APP_KIND, type AppObject } from '../controller/app-resource.js';
import { worstHealth } from '../health/index.js';
import type { Logger } from '../log.js';
import { type ReconcileResult, Reconciler, type ReconcilerOptions, type Source } from '../reconciler.js';
import { foreignCommandWriters, ReleaseController } from '../release/controller.js';
import { measureHttp, measureMetric, recordMeasurement } from '../release/gates/index.js';
import type { EventOut } from '../release/machine.js';
import type { ChangeCounts } from '../state.js';
import { clusterClient, type ClusterProblem, listClusters, type RegisteredCluster, type ResolvedWave, resolveWaves } from './clusters.js';
import { type ClusterObservation, clusterWaitingOn, decideFleet, type FleetDecision, fleetGateKeys, foldFleetCommands, startFleet } from './machine.js';
import { ANNOTATION_FLEET_COMMANDS, type FleetState, parseFleetCommands } from './state.js';

export const FLEET_MANAGER = 'kgitops-fleet';

const NO_CHANGES: ChangeCounts = { created: 0, updated: 0, pruned: 0, unchanged: 0, driftCorrected: 0 };

/** One cluster's line in status.fleet.clusters. */
export interface FleetClusterStatus {
  readonly name: string;
  readonly wave?: string;
  /** The commit the fleet gives it, and the one it runs. */
  readonly target?: string;
  readonly commit?: string;
  readonly reachable: boolean;
  readonly sync?: string;
  readonly health?: string;
  readonly waitingOn?: string;
  /** The last reconcile's message, and its errors (rule, where, what). */
  readonly message?: string;
  readonly errors?: string[];
}

export interface FleetStatus {
  readonly release: FleetState;
  readonly clusters: FleetClusterStatus[];
  /** Cluster Secrets that cannot be used, and why. */
  readonly problems?: string[];
}

export interface FleetRunnerOptions {
  readonly key: string;
  /** The App as last read (its status holds the fleet release). */
  readonly app: () => AppObject | undefined;
  readonly config: EngineConfig;
  /** The App's source; each cluster's reconciler checks out the commit the fleet gives it. */
  readonly source: Source;
  /** The management cluster as the controller: reads the cluster Secrets, writes the App's status. */
  readonly management: Cluster;
  /** The controller's namespace, where the cluster Secrets are. */
  readonly namespace: string;
  /** The App's ServiceAccount user, impersonated in every cluster (unset: the kubeconfig's own identity). */
  readonly user?: string;
  /** The client of a registered cluster (tests give simulated ones). Default: its kubeconfig, impersonating `user`. */
  readonly connect?: (c: RegisteredCluster) => Cluster;
  /** Wraps each cluster's client (the controller's shard fence: writes only while it holds the App). */
  readonly wrap?: (c: Cluster) => Cluster;
  readonly clock: Clock;
  readonly log: Logger;
  readonly reconciler?: Pick<ReconcilerOptions, 'sandbox' | 'warm'>;
  /** A Kubernetes Event on the App. */
  readonly event: (e: EventOut) => Promise<void>;
  /** Asks for another reconcile of the App (a release step, a measurement due). */
  readonly requestReconcile: (afterMs?: number) => void;
}

interface Member {
  readonly reg: RegisteredCluster;
  readonly reconciler: Reconciler;
  readonly releases: ReleaseController;
  /** Workloads' releases, as last evaluated: `Kind ns/name` -> phase, and why it paused (by the engine). */
  readonly phases: Map<string, { phase: string; failure?: string }>;
  target?: string;
  last?: ReconcileResult;
  applied?: string;
}

/** A source that always resolves to the commit the fleet gives the cluster. */
function pinned(source: Source, commit: () => string | undefined): Source {
  return {
    describe: () => source.describe(),
    fetch: async () => {
      const sha = commit();
      if (!sha) throw new Error('the fleet gives this cluster no commit yet');
      return { sha };
    },
    checkout: (sha) => source.checkout(sha),
    ...(source.isAncestor ? { isAncestor: (a: string, b: string) => source.isAncestor!(a, b) } : {}),
    ...(source.history ? { history: source.history } : {}),
  };
}

function unreachable(r: ReconcileResult): boolean {
  return r.result === 'Failed' && r.errors.some((e) => e.rule === 'cluster/read' || e.rule === 'cluster/unreachable');
}

/** Where the fleet release is, in one line (the App's message, `kgitops status`). */
export function fleetMessage(state: FleetState, status: FleetStatus): string {
  const waiting = status.clusters.filter((c) => c.target === state.commit && c.waitingOn && c.waitingOn !== 'done');
  const at = `wave ${state.wave + 1}/${state.waves.length} (${state.waves[state.wave]?.name})`;
  switch (state.phase) {
    case 'Completed': return `fleet release ${state.id} completed: every wave has commit ${state.commit.slice(0, 12)}`;
    case 'Aborted': return `fleet release ${state.id} aborted at ${at}: ${state.history.at(-1)?.message ?? ''}; push a new commit to release again`;
    case 'Paused': return `fleet release ${state.id} paused at ${at}: ${state.pause?.reason ?? ''}`;
    default: {
      const gates = Object.values(state.waves[state.wave]?.gates ?? {}).filter((g) => g.status !== 'Passed');
      return `fleet release ${state.id} at ${at}${waiting.length ? `: waiting on ${waiting.map((c) => `${c.name} (${c.waitingOn})`).join(', ')}` : gates.length ? `: ${gates.map((g) => g.message).join('; ')}` : ''}`;
    }
  }
}

export class FleetRunner {
  private readonly members = new Map<string, Member>();

  constructor(private readonly o: FleetRunnerOptions) {}

  /**
   * One pass of the App's fleet at `head` (a valid commit whose render holds `plan`): the
   * release state advanced as far as it goes now, every cluster reconciled to its commit, the
   * status written, then the events.
   */
  async run(head: string, plan: FleetPlanSpec, signal?: AbortSignal): Promise<{ state: FleetState; status: FleetStatus }> {
    const now = () => this.o.clock.now();
    const app = this.o.app();
    const { clusters, problems } = await listClusters(this.o.management, this.o.namespace);
    const waves = resolveWaves(plan, clusters);
    this.sync(clusters);
    const events: EventOut[] = [];
    let commands = parseFleetCommands(app?.metadata.annotations?.[ANNOTATION_FLEET_COMMANDS]);
    // Commands count only as `kgitops` writes them (its field manager owns the list): anyone who
    // may edit the App must not be able to pass a line off as an approval.
    const foreign = app ? foreignCommandWriters(app as unknown as KubeObject, ANNOTATION_FLEET_COMMANDS) : [];
    if (foreign.length) {
      this.o.log.warn(`the fleet commands on App ${this.o.key} were written by ${foreign.join(', ')}, not by kgitops: the ones not yet carried out are ignored`);
      commands = [];
    }
    let state = (app?.status as { fleet?: FleetStatus } | undefined)?.fleet?.release;
    // A new commit (or a plan of another shape) starts a release; an aborted one waits for a new commit.
    if (!state || state.commit !== head || state.waves.length !== waves.length) {
      const started = startFleet({ id: `${this.o.key}@${head.slice(0, 12)}`, commit: head, plan: waves, ...(state ? { prior: state } : {}), now: now() });
      state = started.state;
      events.push(...started.events);
    }
    state = this.fold(state, commands, events);

    let decision: FleetDecision | undefined;
    // Reconcile the clusters, decide, and again while the decision gives more clusters the commit.
    for (let round = 0; round < waves.length + 2; round++) {
      const observed = await this.reconcileMembers(state, signal);
      decision = decideFleet({ plan: waves, state, observed, now: now() });
      events.push(...decision.events);
      const more = Object.keys(decision.state.targets).some((k) => decision!.state.targets[k] !== state!.targets[k]);
      state = decision.state;
      if (decision.measure.length) state = await this.measure(waves, state, decision.measure);
      if (!more || signal?.aborted) break;
    }
    const status = this.statusOf(state, waves, problems);
    const healths = status.clusters.filter((c) => c.target).map((c) => c.health ?? 'Unknown') as Parameters<typeof worstHealth>[0];
    // The state is written before its events are told: a crash in between tells them again
    // from the same state, never a transition that did not happen. The App's own columns
    // (sync, health, commit, message) say where the fleet is.
    await this.o.management.applyStatus({
      apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: app?.metadata.name ?? '', namespace: app?.metadata.namespace ?? '' },
      status: {
        fleet: status, commit: state.commit.slice(0, 12), message: fleetMessage(state, status),
        sync: state.phase === 'Completed' ? 'Synced' : state.phase === 'Aborted' ? 'OutOfSync' : 'Progressing',
        health: healths.length ? worstHealth(healths) : 'Unknown',
      },
    } as unknown as KubeObject, { fieldManager: FLEET_MANAGER, force: true });
    for (const e of events) await this.o.event(e).catch(() => {});
    if (decision?.wakeAt !== undefined) this.o.requestReconcile(Math.max(0, decision.wakeAt - now()));
    return { state, status };
  }

  private fold(state: FleetState, commands: ReturnType<typeof parseFleetCommands>, events: EventOut[]): FleetState {
    const folded = foldFleetCommands(state, commands, this.o.clock.now());
    events.push(...folded.events);
    return folded.state;
  }

  /** The registered clusters, each with its reconciler (a changed kubeconfig builds a new one). */
  private sync(clusters: readonly RegisteredCluster[]): void {
    const names = new Set(clusters.map((c) => c.name));
    for (const [name, m] of this.members) {
      const now = clusters.find((c) => c.name === name);
      if (!names.has(name) || now?.kubeconfig !== m.reg.kubeconfig) {
        m.releases.stop();
        m.reconciler.close();
        this.members.delete(name);
      }
    }
    for (const reg of clusters) {
      if (this.members.has(reg.name)) continue;
      const connect = this.o.connect ?? ((c: RegisteredCluster) => {
        const client = clusterClient(c, { component: 'kgitops' });
        return this.o.user ? client.impersonating({ user: this.o.user }) : client;
      });
      const cluster = this.o.wrap ? this.o.wrap(connect(reg)) : connect(reg);
      const log = this.o.log.child({ cluster: reg.name });
      const phases = new Map<string, { phase: string; failure?: string }>();
      let member!: Member;
      const releases = new ReleaseController({
        cluster, clock: this.o.clock, log,
        requestReconcile: () => this.o.requestReconcile(),
        onEvaluated: (k, d) => {
          if (!d) return;
          const s = d.state;
          const failure = s.phase === 'Aborted' ? `release ${s.id} was aborted` : s.phase === 'Paused' && s.pause?.by === 'engine' ? `release ${s.id} paused: ${s.pause.reason}` : undefined;
          const id = `${k.kind} ${k.namespace ? `${k.namespace}/` : ''}${k.name}`;
          const before = phases.get(id)?.phase;
          phases.set(id, { phase: s.phase, ...(failure ? { failure } : {}) });
          // A release that ends (or stops) is what a wave waits for: look again now.
          if (before !== s.phase) this.o.requestReconcile();
        },
      });
      const reconciler = new Reconciler(this.o.config, cluster, pinned(this.o.source, () => member.target), this.o.clock, log, releases, { ...this.o.reconciler });
      member = { reg, reconciler, releases, phases };
      this.members.set(reg.name, member);
    }
  }

  /** Reconciles every cluster the state gives a commit, all at once; what each one reports. */
  private async reconcileMembers(state: FleetState, signal?: AbortSignal): Promise<Record<string, ClusterObservation>> {
    const out: Record<string, ClusterObservation> = {};
    await Promise.all([...this.members.values()].map(async (m) => {
      m.target = state.targets[m.reg.name];
      if (!m.target) {
        out[m.reg.name] = { reachable: true, releasing: [], message: 'no commit given yet' };
        return;
      }
      const r = await m.reconciler.reconcile(signal).catch((e: Error): ReconcileResult => ({
        result: 'Failed', message: e.message, durationMs: 0, changes: NO_CHANGES, drift: [], errors: [{ severity: 'error', rule: 'cluster/unreachable', message: e.message }], objects: [], writes: 0,
      }));
      m.last = r;
      if (r.result === 'Succeeded' || r.result === 'NoChange') m.applied = r.commit;
      const releasing = [...m.phases].filter(([, p]) => p.phase === 'Progressing' || p.phase === 'Paused').map(([id]) => id);
      const failure = [...m.phases.values()].find((p) => p.failure)?.failure;
      const down = unreachable(r);
      out[m.reg.name] = {
        reachable: !down,
        message: r.message,
        ...(m.applied ? { appliedCommit: m.applied } : {}),
        sync: r.result === 'Failed' ? 'Failed' : r.heldBack?.length ? 'OutOfSync' : 'Synced',
        health: r.objects.length ? worstHealth(r.objects.map((x) => x.health)) : 'Current',
        releasing,
        ...(r.result === 'Failed' && !down && r.commit === m.target ? { failed: r.message } : failure ? { failed: failure } : {}),
      };
    }));
    return out;
  }

  /** Takes the measurements due (metric and http gates between waves) and records them in the state. */
  private async measure(waves: readonly ResolvedWave[], state: FleetState, keys: readonly string[]): Promise<FleetState> {
    const specs = new Map(fleetGateKeys(waves, state.wave));
    let s = state;
    for (const key of keys) {
      const g = specs.get(key);
      if (!g || (g.type !== 'metric' && g.type !== 'http')) continue;
      const m = g.type === 'metric' ? await measureMetric(g, { now: () => this.o.clock.now() }) : await measureHttp(g, { now: () => this.o.clock.now() });
      s = {
        ...s,
        waves: s.waves.map((w, i) => (i !== s.wave ? w : { ...w, gates: { ...w.gates, [key]: { ...(w.gates[key] ?? { status: 'Pending', message: '', since: new Date(this.o.clock.now()).toISOString() }), measurement: recordMeasurement(w.gates[key]?.measurement, m) } } })),
      };
    }
    // The verdict of the new measurements: the next reconcile decides on them (soon).
    this.o.requestReconcile(1000);
    return s;
  }

  private statusOf(state: FleetState, waves: readonly ResolvedWave[], problems: readonly ClusterProblem[]): FleetStatus {
    const waveOf = new Map(waves.flatMap((w) => w.members.map((m) => [m, w.name] as const)));
    const clusters = [...this.members.values()].sort((a, b) => a.reg.name.localeCompare(b.reg.name)).map((m): FleetClusterStatus => {
      const target = state.targets[m.reg.name];
      const r = m.last;
      const down = !!r && unreachable(r);
      return {
        name: m.reg.name,
        ...(waveOf.get(m.reg.name) ? { wave: waveOf.get(m.reg.name)! } : {}),
        ...(target ? { target } : {}),
        ...(m.applied ? { commit: m.applied } : {}),
        reachable: !down,
        ...(r ? { message: r.message } : {}),
        ...(r?.errors.length ? { errors: r.errors.slice(0, 5).map((e) => `${e.rule}${e.object ? ` ${e.object.kind} ${e.object.name ?? ''}` : ''}${e.path ? ` ${e.path}` : ''}: ${e.message}`) } : {}),
        ...(r ? { sync: r.result === 'Failed' ? 'Failed' : 'Synced', health: r.objects.length ? worstHealth(r.objects.map((x) => x.health)) : 'Current' } : {}),
        ...(target ? { waitingOn: clusterWaitingOn(target, {
          reachable: !down, ...(r ? { message: r.message } : {}), ...(m.applied ? { appliedCommit: m.applied } : {}),
          ...(r ? { sync: r.result === 'Failed' ? 'Failed' : 'Synced', health: r.objects.length ? worstHealth(r.objects.map((x) => x.health)) : 'Current' } : {}),
          releasing: [...m.phases].filter(([, p]) => p.phase === 'Progressing' || p.phase === 'Paused').map(([id]) => id),
        }) } : {}),
      };
    });
    return { release: state, clusters, ...(problems.length ? { problems: problems.map((p) => p.message) } : {}) };
  }

  close(): void {
    for (const m of this.members.values()) {
      m.releases.stop();
      m.reconciler.close();
    }
    this.members.clear();
  }
}

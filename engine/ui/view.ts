/**
 * What the dashboard shows of a release, derived from the live workload alone: its plan
 * (kgitops.io/release-plan), its state (kgitops.io/release-state) and its status (pods per
 * revision). Plain data: the HTML (html.ts) and the JSON API (server.ts) both render it.
 */
import type { GateSpec, ReleasePlanSpec } from '../../dsl/release.js';
import type { AppStatus } from '../cli/status.js';
import type { DiffResult } from '../diff/index.js';
import { scaledValue } from '../../dsl/arithmetic.js';
import { describeKey, type KubeObject, keyOf, type ObjectKey } from '../cluster/types.js';
import { describeGate, windowAt } from '../release/machine.js';
import { readPlan } from '../release/plan.js';
import { ANNOTATION_RELEASE_STATE, readReleaseState, type ReleaseState, type Transition } from '../release/state.js';

/** One App's page: what the backend reads for it. */
export interface AppDetails {
  /** The App as `kgitops status` reads it (live health). */
  readonly status?: AppStatus;
  /** Its workloads' releases, those in progress first. */
  readonly releases: ReleaseView[];
  /** Why its objects could not be read (as its ServiceAccount). */
  readonly error?: string;
  /**
   * What the applied commit changed (`kgitops diff -o json`'s shape); `recalling` while it is
   * rendered again, `note` when it is not known here.
   */
  readonly change?: { readonly change?: DiffResult; readonly recalling?: boolean; readonly note?: string };
}

export interface PodCounts {
  /** Pods the workload wants. */
  readonly desired: number;
  /** Pods on the release's (new) revision, and how many of them are ready. */
  readonly updated: number;
  readonly updatedReady: number;
  /** Ready pods of any revision. */
  readonly ready: number;
  /**
   * A UnitedDeployment's subsets: pods, the partition (pods kept on the previous revision), so
   * the pods the new revision may have, and ready pods where Kruise reports them (subsetStatuses).
   */
  readonly subsets?: readonly SubsetPods[];
}

export interface SubsetPods {
  readonly name: string;
  readonly pods: number;
  readonly partition: number;
  /** pods - partition: what the new revision may have in this subset. */
  readonly newRevision: number;
  readonly ready?: number;
}

export interface GateView {
  readonly key: string;
  readonly type: GateSpec['type'];
  /** In words, as `kgitops status` says it: "bake 5m", "metric error-rate (result < 0.01, 3x every 30s)". */
  readonly description: string;
  /** Passed, Pending, Failed, Inconclusive; Waiting for a step not reached yet; Passed for a past step. */
  readonly status: string;
  readonly message: string;
  readonly since?: string;
  /** bake: when it ends (ISO), once the step's pods are all ready. */
  readonly bakeEndsAt?: string;
  /** metric and http: the last measurements, oldest first. */
  readonly measurements?: { readonly at: string; readonly phase: string; readonly value?: number; readonly message: string }[];
  /** metric: the condition a measurement must meet. */
  readonly condition?: string;
  /** window: open or closed now, and when that changes (ISO). */
  readonly window?: { readonly open: boolean; readonly changesAt: string };
}

export interface StepView {
  /** 1-based. */
  readonly index: number;
  /** The step's target as written (`20%`, 3) and in pods now. */
  readonly target: string;
  readonly targetPods?: number;
  readonly state: 'done' | 'current' | 'waiting';
  readonly gates: GateView[];
}

export interface ReleaseView {
  readonly workload: string;
  readonly key: ObjectKey;
  readonly id: string;
  readonly phase: string;
  /** 1-based. */
  readonly step: number;
  readonly steps: StepView[];
  readonly revision: string;
  readonly previousRevision?: string;
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly pause?: { readonly reason: string; readonly by: string; readonly at: string };
  readonly approvals: { readonly step: number; readonly by: string; readonly at: string; readonly via: string }[];
  readonly pods: PodCounts;
  readonly history: Transition[];
  /** Set when the state cannot be read: the release is stopped until a person fixes it. */
  readonly problem?: string;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** Pods per revision, from the status of a CloneSet, an Advanced StatefulSet or DaemonSet, a UnitedDeployment. */
export function podCounts(live: KubeObject): PodCounts {
  const s = live.status ?? {};
  const desired = live.kind === 'DaemonSet' ? num(s.desiredNumberScheduled) : num(live.spec?.replicas ?? s.replicas);
  const subsets = live.kind === 'UnitedDeployment' ? subsetPods(live) : [];
  return {
    desired,
    updated: num(s.updatedReplicas ?? s.updatedNumberScheduled),
    updatedReady: num(s.updatedReadyReplicas ?? s.updatedNumberReady ?? s.updatedAvailableReplicas),
    ready: num(s.readyReplicas ?? s.numberReady),
    ...(subsets.length ? { subsets } : {}),
  };
}

/** In the order of spec.topology.subsets; the partitions in effect (status) before the ones asked for (spec). */
function subsetPods(live: KubeObject): SubsetPods[] {
  const s = live.status ?? {};
  const replicas: Record<string, unknown> = s.subsetReplicas ?? {};
  const partitions: Record<string, unknown> = { ...(live.spec?.updateStrategy?.manualUpdate?.partitions ?? {}), ...(s.updateStatus?.currentPartitions ?? {}) };
  const statuses = new Map<string, { readyReplicas?: unknown }>(((s.subsetStatuses ?? []) as { name: string; readyReplicas?: unknown }[]).map((x) => [x.name, x]));
  const names: string[] = ((live.spec?.topology?.subsets ?? []) as { name: string }[]).map((x) => x.name);
  for (const n of Object.keys(replicas)) if (!names.includes(n)) names.push(n);
  return names.filter((name) => replicas[name] !== undefined).map((name) => {
    const pods = num(replicas[name]);
    const partition = Math.min(pods, num(partitions[name]));
    const ready = statuses.get(name)?.readyReplicas;
    return { name, pods, partition, newRevision: pods - partition, ...(ready !== undefined ? { ready: num(ready) } : {}) };
  });
}

function gateView(key: string, g: GateSpec, state: ReleaseState, stepState: StepView['state'], now: number): GateView {
  const base = { key, type: g.type, description: describeGate(g) };
  if (stepState === 'waiting') return { ...base, status: 'Waiting', message: 'step not reached yet' };
  if (stepState === 'done') return { ...base, status: 'Passed', message: 'passed' };
  const s = state.gates[key];
  const view: GateView = { ...base, status: s?.status ?? 'Pending', message: s?.message ?? 'not evaluated yet', ...(s?.since ? { since: s.since } : {}) };
  switch (g.type) {
    case 'bake':
      return state.podsReadyAt ? { ...view, bakeEndsAt: new Date(Date.parse(state.podsReadyAt) + g.seconds * 1000).toISOString() } : view;
    case 'metric':
    case 'http': {
      const measurements = (s?.measurement?.measurements ?? []).map((m) => ({
        at: m.at, phase: m.phase, message: m.message,
        ...(typeof m.value === 'number' ? { value: m.value } : Array.isArray(m.value) && typeof m.value[0] === 'number' ? { value: m.value[0] as number } : {}),
      }));
      return { ...view, measurements, ...(g.type === 'metric' ? { condition: g.successCondition } : {}) };
    }
    case 'window': {
      const w = windowAt(g, now);
      return { ...view, window: { open: g.mode === 'allow' ? w.inside : !w.inside, changesAt: new Date(w.changesAt).toISOString() } };
    }
    default:
      return view;
  }
}

/** The release of a live workload, or undefined when it has no release state. */
export function releaseView(live: KubeObject, now: number): ReleaseView | undefined {
  const key = keyOf(live);
  const workload = describeKey(key);
  let plan: ReleasePlanSpec | undefined;
  try {
    plan = readPlan(live);
  } catch {
    plan = undefined; // an invalid plan is reported by the engine; the state alone still shows
  }
  const read = readReleaseState(live.metadata.annotations?.[ANNOTATION_RELEASE_STATE], plan);
  const pods = podCounts(live);
  if (read.problem) {
    return { workload, key, id: '-', phase: 'Unreadable', step: 0, steps: [], revision: '', startedAt: '', approvals: [], pods, history: [], problem: read.problem };
  }
  const state = read.state;
  if (!state) return undefined;
  const steps: StepView[] = (plan?.steps ?? []).map((step, i) => {
    const stepState: StepView['state'] = state.phase === 'Completed' || i < state.step ? 'done' : i === state.step ? 'current' : 'waiting';
    const target = step.target ?? (step.subsets ? Object.entries(step.subsets).map(([k, v]) => `${k}: ${v}`).join(', ') : '100%');
    const gates = [
      ...step.gates.map((g, j) => gateView(`${i}/${j}`, g, state, stepState, now)),
      ...(plan!.always ?? []).map((g, j) => gateView(`always/${j}`, g, state, stepState, now)),
    ];
    return {
      index: i + 1, target: String(target), state: stepState, gates,
      ...(step.target !== undefined ? { targetPods: scaledValue(step.target, pods.desired, true) } : {}),
    };
  });
  return {
    workload, key, id: state.id, phase: state.phase, step: state.step + 1, steps, revision: state.revision,
    ...(state.previousRevision ? { previousRevision: state.previousRevision } : {}),
    startedAt: state.startedAt, ...(state.finishedAt ? { finishedAt: state.finishedAt } : {}),
    ...(state.pause ? { pause: { ...state.pause } } : {}),
    approvals: state.approvals.map((a) => ({ step: a.step + 1, by: a.by, at: a.at, via: a.via })),
    pods, history: [...state.history],
  };
}

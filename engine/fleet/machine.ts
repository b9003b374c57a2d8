/**
 * The fleet release state machine, as pure functions (as engine/release/machine.ts is for a
 * workload's partition steps): no I/O, so any prefix of its decisions replays after a crash to
 * the same state, and a wave is never skipped or started twice.
 *
 * A new commit starts a fleet release at the first wave. A wave waits on its gates (counted from
 * when the wave before it was done); once they pass it starts: its clusters are given the commit
 * (`targets`), at most maxParallel at a time. It is done when every one of them has applied the
 * commit and is synced, healthy, and has no release of it in progress; then the next wave waits
 * on its gates. Clusters of later waves keep what they ran before. A failing gate, or a cluster
 * whose apply or release of the commit fails, pauses the fleet where it is. Abort gives every
 * cluster that got the commit what it ran before. A newer commit supersedes the release: the
 * new one starts at the first wave, and each cluster keeps what it has until its wave gets the
 * newer commit.
 */
import type { GateSpec } from '../../dsl/release.js';
import { describeGate, type EventOut, evaluateGate, type GateEval } from '../release/machine.js';
import type { GateState } from '../release/state.js';
import type { ResolvedWave } from './clusters.js';
import { type FleetCommand, type FleetState, isFleetFinal, withFleetTransition } from './state.js';

/** What the controller saw of one cluster, for the commit the fleet gave it. */
export interface ClusterObservation {
  /** False: the cluster did not answer (or refused our credentials); `message` says how. */
  readonly reachable: boolean;
  readonly message?: string;
  /** The commit its last successful apply applied. */
  readonly appliedCommit?: string;
  /** Synced, Failed, OutOfSync, ... as the cluster's reconcile reports it. */
  readonly sync?: string;
  /** Current, Progressing, Failed, ... of its objects. */
  readonly health?: string;
  /** Workloads with a release of the applied commit in progress. */
  readonly releasing: readonly string[];
  /** The commit cannot go on there: its apply failed, or a release of it paused on a failure or was aborted. */
  readonly failed?: string;
}

export interface FleetDecision {
  readonly state: FleetState;
  /** True when `state` differs from the input (it must be written before the events are emitted). */
  readonly changed: boolean;
  readonly events: EventOut[];
  /** Evaluate again at this time (epoch ms) at the latest. */
  readonly wakeAt?: number;
  /** Keys of the current wave's measured gates due for a measurement now. */
  readonly measure: string[];
}

const waveLabel = (plan: readonly ResolvedWave[], i: number) => `wave ${i + 1}/${plan.length} (${plan[i]!.name})`;

/** The fleet release of `commit`: at its first wave; `prior` is the release it supersedes, if any. */
export function startFleet(o: { id: string; commit: string; plan: readonly ResolvedWave[]; prior?: FleetState; now: number }): { state: FleetState; events: EventOut[] } {
  const iso = new Date(o.now).toISOString();
  const events: EventOut[] = [];
  const prior = o.prior;
  if (prior && !isFleetFinal(prior)) {
    events.push({ type: 'Normal', reason: 'FleetSuperseded', message: `fleet release ${prior.id} superseded by commit ${o.commit.slice(0, 12)} at ${waveLabel(o.plan, Math.min(prior.wave, o.plan.length - 1))}: each cluster keeps what it has until its wave gets the newer commit` });
  }
  const message = `fleet release ${o.id} started: ${o.plan.length} wave(s), ${o.plan.map((w) => `${w.name} (${w.members.length} cluster(s))`).join(', ')}`;
  events.push({ type: 'Normal', reason: 'FleetStarted', message });
  const previous = { ...(prior?.targets ?? {}) };
  return {
    state: {
      id: o.id, commit: o.commit, phase: 'Progressing', wave: 0,
      waves: o.plan.map((w) => ({ name: w.name, gates: {} })),
      targets: { ...previous }, previous, approvals: [], startedAt: iso, commands: 0,
      history: [{ at: iso, step: 0, reason: 'FleetStarted', message }],
    },
    events,
  };
}

/**
 * Folds this release's commands given since the state last read them (approve, pause, resume,
 * abort); `commands` may hold other releases' too (they are skipped, and not counted).
 */
export function foldFleetCommands(state: FleetState, commands: readonly FleetCommand[], now: number): { state: FleetState; events: EventOut[] } {
  const events: EventOut[] = [];
  const iso = new Date(now).toISOString();
  const mine = commands.filter((c) => c.release === state.id);
  let s = state;
  for (const c of mine.slice(state.commands ?? 0)) {
    if (isFleetFinal(s)) continue;
    switch (c.action) {
      case 'approve':
        s = { ...s, approvals: [...s.approvals, { wave: c.wave ?? s.wave, by: c.by, at: c.at, ...(c.note ? { note: c.note } : {}) }] };
        break;
      case 'pause':
        if (s.phase === 'Progressing') {
          const reason = `paused by ${c.by}${c.note ? `: ${c.note}` : ''}`;
          s = withFleetTransition({ ...s, phase: 'Paused', pause: { reason, by: c.by, at: c.at } }, { at: iso, step: s.wave, reason: 'FleetPaused', message: reason });
          events.push({ type: 'Normal', reason: 'FleetPaused', message: `fleet release ${s.id} ${reason}` });
        }
        break;
      case 'resume':
        if (s.phase === 'Paused') {
          // The current wave's gates are looked at afresh (a failed measurement is measured again).
          const waves = s.waves.map((w, i) => (i === s.wave ? { ...w, gates: {} } : w));
          const message = `resumed by ${c.by}`;
          s = withFleetTransition({ ...s, phase: 'Progressing', pause: undefined, waves }, { at: iso, step: s.wave, reason: 'FleetResumed', message });
          events.push({ type: 'Normal', reason: 'FleetResumed', message: `fleet release ${s.id} ${message}` });
        }
        break;
      case 'abort': {
        const targets = { ...s.targets };
        const kept: string[] = [];
        for (const [cluster, commit] of Object.entries(s.targets)) {
          if (commit !== s.commit) continue;
          const before = s.previous[cluster];
          if (before) targets[cluster] = before;
          else kept.push(cluster);
        }
        const rolledBack = Object.keys(targets).filter((k) => targets[k] !== s.targets[k]);
        const message = `aborted by ${c.by}: ${rolledBack.length ? `${rolledBack.join(', ')} go back to what they ran before` : 'no cluster had the commit yet'}${kept.length ? `; ${kept.join(', ')} ran nothing of the app before and keep the commit` : ''}`;
        s = withFleetTransition({ ...s, phase: 'Aborted', targets, pause: undefined, finishedAt: iso }, { at: iso, step: s.wave, reason: 'FleetAborted', message });
        events.push({ type: 'Warning', reason: 'FleetAborted', message: `fleet release ${s.id} ${message}` });
        break;
      }
    }
  }
  if ((s.commands ?? 0) < mine.length) s = { ...s, commands: mine.length };
  return { state: s, events };
}

/** Whether a cluster has the fleet's commit, synced, healthy and released. */
function clusterDone(commit: string, o: ClusterObservation | undefined): boolean {
  return !!o?.reachable && o.appliedCommit === commit && o.sync === 'Synced' && o.health === 'Current' && o.releasing.length === 0;
}

/** What a cluster of a started wave still waits for, in words. */
export function clusterWaitingOn(commit: string, o: ClusterObservation | undefined): string {
  if (!o) return 'not reconciled yet';
  if (!o.reachable) return `unreachable: ${o.message ?? 'no answer'}`;
  if (o.appliedCommit !== commit) return `applying commit ${commit.slice(0, 12)}${o.message ? ` (${o.message})` : ''}`;
  if (o.releasing.length) return `releasing ${o.releasing.join(', ')}`;
  if (o.sync !== 'Synced') return `sync ${o.sync ?? 'unknown'}`;
  if (o.health !== 'Current') return `health ${o.health ?? 'unknown'}`;
  return 'done';
}

export function fleetGateKeys(plan: readonly ResolvedWave[], wave: number): [string, GateSpec][] {
  return (plan[wave]?.gates ?? []).map((g, i) => [`${wave}/${i}`, g]);
}

/**
 * One decision: the next state, the events and when to look again. It goes as far as it can at
 * `now` (a wave done and the next one's gates already passing starts that one too).
 */
export function decideFleet(input: { plan: readonly ResolvedWave[]; state: FleetState; observed: Readonly<Record<string, ClusterObservation>>; now: number }): FleetDecision {
  const { plan, observed, now } = input;
  const iso = new Date(now).toISOString();
  const events: EventOut[] = [];
  let s = input.state;
  const result = (extra: Partial<FleetDecision> = {}): FleetDecision => ({ state: s, changed: s !== input.state, events, measure: [], ...extra });
  if (plan.length !== s.waves.length) return result(); // a plan of another shape: the caller starts a new release

  for (let guard = 0; guard <= plan.length; guard++) {
    if (s.phase !== 'Progressing') return result();
    const w = s.wave;
    const spec = plan[w]!;
    const ws = s.waves[w]!;
    const label = waveLabel(plan, w);
    const pause = (reason: string): FleetDecision => {
      s = withFleetTransition({ ...s, phase: 'Paused', pause: { reason, by: 'engine', at: iso } }, { at: iso, step: w, reason: 'FleetPaused', message: reason });
      events.push({ type: 'Warning', reason: 'FleetPaused', message: `fleet release ${s.id} paused: ${reason}` });
      return result();
    };

    if (!ws.startedAt) {
      // Its gates, counted from when the wave before was done (the release's start for the first).
      const readyAt = w === 0 ? Date.parse(s.startedAt) : Date.parse(s.waves[w - 1]!.doneAt!);
      const results = fleetGateKeys(plan, w).map(([key, g]): { key: string; g: GateSpec; r: GateEval } => {
        if (g.type === 'podsReady') return { key, g, r: { status: 'Passed', message: 'every cluster of the wave before is healthy' } };
        const approval = g.type === 'approval' ? s.approvals.find((a) => a.wave === w && (!g.approvers || g.approvers.includes(a.by))) : undefined;
        return {
          key, g, r: evaluateGate(g, {
            now, readyAt, notReady: 'the wave before is done', measurement: ws.gates[key]?.measurement,
            approval: approval ? { by: approval.by, via: 'cli', ...(approval.note ? { note: approval.note } : {}) } : undefined,
            approveHint: `waiting for approval of ${label}: kgitops approve <app> --wave ${w + 1}`,
          }),
        };
      });
      let gates = ws.gates;
      for (const { key, r } of results) {
        const old = gates[key];
        if (!old || old.status !== r.status || old.message !== r.message) {
          gates = { ...gates, [key]: { ...old, status: r.status, message: r.message, since: old?.status === r.status ? old.since : iso } as GateState };
        }
      }
      if (gates !== ws.gates) s = { ...s, waves: s.waves.map((x, i) => (i === w ? { ...x, gates } : x)) };
      const bad = results.find((x) => x.r.status === 'Failed') ?? results.find((x) => x.r.status === 'Inconclusive');
      if (bad) return pause(`${label}: ${describeGate(bad.g)} ${bad.r.status === 'Failed' ? 'failed' : 'is inconclusive'}: ${bad.r.message}; later waves keep the previous commit (resume to measure again, or abort)`);
      if (!results.every((x) => x.r.status === 'Passed')) {
        const wakes = results.map((x) => x.r.wakeAt).filter((x): x is number => x !== undefined);
        return result({ ...(wakes.length ? { wakeAt: Math.min(...wakes) } : {}), measure: results.filter((x) => x.r.due).map((x) => x.key) });
      }
      if (spec.missing.length) return pause(`${label} names clusters no Secret registers: ${spec.missing.join(', ')} (register them with a Secret labelled kgitops.io/cluster, or change the wave)`);
      const members = [...spec.members];
      const message = `${label} started: ${members.length ? members.join(', ') : 'no registered cluster matches it'}${results.length ? `; gates passed: ${results.map((x) => describeGate(x.g)).join(', ')}` : ''}`;
      s = withFleetTransition({ ...s, waves: s.waves.map((x, i) => (i === w ? { ...x, members, startedAt: iso } : x)) }, { at: iso, step: w, reason: 'FleetWaveStarted', message });
      events.push({ type: members.length ? 'Normal' : 'Warning', reason: 'FleetWaveStarted', message: `fleet release ${s.id}: ${message}` });
    }

    // Rolling out: give the commit to at most maxParallel clusters not yet done, in name order.
    const members = s.waves[w]!.members ?? [];
    for (const m of members) {
      const o = observed[m];
      if (s.targets[m] === s.commit && o?.failed) {
        return pause(`${label}: cluster ${m}: ${o.failed}; later waves keep the previous commit (fix it with a new commit, or abort to roll the clusters that got this one back)`);
      }
    }
    const limit = spec.maxParallel ?? members.length;
    let targets = s.targets;
    let inFlight = members.filter((m) => targets[m] === s.commit && !clusterDone(s.commit, observed[m])).length;
    for (const m of members) {
      if (inFlight >= limit) break;
      if (targets[m] === s.commit) continue;
      targets = { ...targets, [m]: s.commit };
      inFlight++;
    }
    if (targets !== s.targets) s = { ...s, targets };
    const done = members.every((m) => targets[m] === s.commit && clusterDone(s.commit, observed[m]));
    if (!done) return result();
    const message = `${label} done: ${members.join(', ') || 'no cluster'} synced, healthy and released`;
    s = withFleetTransition({ ...s, waves: s.waves.map((x, i) => (i === w ? { ...x, doneAt: iso, gates: {} } : x)) }, { at: iso, step: w, reason: 'FleetWaveCompleted', message });
    events.push({ type: 'Normal', reason: 'FleetWaveCompleted', message: `fleet release ${s.id}: ${message}` });
    if (w === plan.length - 1) {
      const final = `fleet release ${s.id} completed: commit ${s.commit.slice(0, 12)} runs on ${Object.entries(s.targets).filter(([, c]) => c === s.commit).map(([k]) => k).join(', ') || 'no cluster'}`;
      s = withFleetTransition({ ...s, phase: 'Completed', finishedAt: iso }, { at: iso, step: w, reason: 'FleetCompleted', message: final });
      events.push({ type: 'Normal', reason: 'FleetCompleted', message: final });
      return result();
    }
    s = { ...s, wave: w + 1 };
  }
  return result();
}

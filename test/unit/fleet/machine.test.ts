/**
 * The fleet release state machine (engine/fleet/machine.ts): waves in order, each gated like a
 * release step; maxParallel within a wave; a failing gate or cluster pausing the fleet where it
 * is; abort; a newer commit superseding; and decisions that replay after a crash to the same
 * state, so that no wave is skipped or started twice.
 */
import { describe, expect, it } from 'vitest';
import type { FleetPlanSpec } from '../../../dsl/fleet-plan.js';
import { type RegisteredCluster, resolveWaves } from '../../../engine/fleet/clusters.js';
import { type ClusterObservation, decideFleet, foldFleetCommands, startFleet } from '../../../engine/fleet/machine.js';
import type { FleetCommand, FleetState } from '../../../engine/fleet/state.js';
import { recordMeasurement } from '../../../engine/release/gates/index.js';

const X = 'a'.repeat(40);
const W = 'b'.repeat(40);
const T0 = Date.parse('2026-12-03T10:00:00Z');
const HOUR = 3600_000;

const registered = (name: string, labels: Record<string, string>): RegisteredCluster => ({ name, labels, secret: `kgitops-system/${name}`, kubeconfig: '' });
const clusters = [
  registered('staging', { env: 'staging' }),
  registered('eu-1', { env: 'prod', region: 'eu' }),
  registered('eu-2', { env: 'prod', region: 'eu' }),
  registered('us-1', { env: 'prod', region: 'us' }),
];
const metric = { type: 'metric' as const, name: 'errors', prometheus: 'http://prom:9090', query: 'q', successCondition: 'result < 0.01', intervalSeconds: 60, count: 1, failureLimit: 0, consecutiveErrorLimit: 4, inconclusiveLimit: 0 };
const spec: FleetPlanSpec = {
  version: 1,
  waves: [
    { name: 'staging', clusters: { matchLabels: { env: 'staging' } }, gates: [] },
    { name: 'prod-eu', clusters: { matchLabels: { env: 'prod', region: 'eu' } }, gates: [{ type: 'bake', seconds: 3600 }, { type: 'approval' }], maxParallel: 1 },
    { name: 'prod', clusters: { matchLabels: { env: 'prod' } }, gates: [] },
  ],
};
const plan = resolveWaves(spec, clusters);

/** A release that completed earlier, with what each cluster runs. */
const completed = (targets: Record<string, string>) => ({ id: 'before', commit: W, phase: 'Completed', targets }) as unknown as FleetState;
const done = (commit: string): ClusterObservation => ({ reachable: true, appliedCommit: commit, sync: 'Synced', health: 'Current', releasing: [] });
const releasing = (commit: string): ClusterObservation => ({ reachable: true, appliedCommit: commit, sync: 'Synced', health: 'Progressing', releasing: ['CloneSet shop/web'] });

/** What a cluster runs once it did what the state asks of it. */
function settled(s: FleetState, on: Record<string, ClusterObservation | 'done'> = {}): Record<string, ClusterObservation> {
  return Object.fromEntries(clusters.map((c) => {
    const o = on[c.name];
    const target = s.targets[c.name];
    return [c.name, o === 'done' || (o === undefined && target) ? done(target ?? X) : (o ?? { reachable: true, releasing: [] })];
  }));
}

describe('resolveWaves', () => {
  it('gives each cluster to the first wave that selects it: a broader wave later takes the rest', () => {
    expect(plan.map((w) => [w.name, w.members])).toEqual([['staging', ['staging']], ['prod-eu', ['eu-1', 'eu-2']], ['prod', ['us-1']]]);
    expect(resolveWaves({ version: 1, waves: [{ name: 'a', clusters: { names: ['eu-2', 'nowhere'] }, gates: [] }] }, clusters)[0]).toMatchObject({ members: ['eu-2'], missing: ['nowhere'] });
  });
});

describe('a fleet release', () => {
  it('goes wave by wave: staging, then prod-eu after a bake and an approval one cluster at a time, then the rest of prod', () => {
    const start = startFleet({ id: 'shop/shop@aaaaaaaaaaaa', commit: X, plan, prior: completed({ staging: W, 'eu-1': W, 'eu-2': W, 'us-1': W }), now: T0 });
    expect(start.events.map((e) => e.reason)).toEqual(['FleetStarted']);
    let s = start.state;
    const reasons: string[] = [];
    const decide = (now: number, observed: Record<string, ClusterObservation>) => {
      const d = decideFleet({ plan, state: s, observed, now });
      reasons.push(...d.events.map((e) => e.reason));
      s = d.state;
      return d;
    };
    // Wave 1 starts at once: only staging gets the commit; everything else keeps W.
    decide(T0, settled(s));
    expect(s.targets).toEqual({ staging: X, 'eu-1': W, 'eu-2': W, 'us-1': W });
    // Staging still releasing: nothing moves.
    const waiting = decide(T0 + 60_000, { ...settled(s), staging: releasing(X) });
    expect(waiting.changed).toBe(false);
    // Staging done: wave 1 done; wave 2 bakes from now, for an hour.
    const t1 = T0 + 120_000;
    const baking = decide(t1, settled(s));
    expect(s.wave).toBe(1);
    expect(s.waves[0]!.doneAt).toBe(new Date(t1).toISOString());
    expect(baking.wakeAt).toBe(t1 + HOUR);
    expect(s.waves[1]!.gates['1/0']).toMatchObject({ status: 'Pending', message: 'baking: 1h left' });
    expect(s.targets['eu-1']).toBe(W);
    // Baked, but nobody approved.
    decide(t1 + HOUR, settled(s));
    expect(s.waves[1]!.gates['1/1']).toMatchObject({ status: 'Pending', message: 'waiting for approval of wave 2/3 (prod-eu): kgitops approve <app> --wave 2' });
    expect(s.waves[1]!.startedAt).toBeUndefined();
    // Approved: wave 2 starts with one cluster (maxParallel 1).
    const approve: FleetCommand = { action: 'approve', release: s.id, wave: 1, by: 'alice@example.com', at: new Date(t1 + HOUR).toISOString() };
    const folded = foldFleetCommands(s, [approve], t1 + HOUR);
    s = folded.state;
    expect(s.commands).toBe(1);
    decide(t1 + HOUR + 1000, settled(s));
    expect(s.targets).toEqual({ staging: X, 'eu-1': X, 'eu-2': W, 'us-1': W });
    // eu-1 releasing: eu-2 waits its turn.
    decide(t1 + HOUR + 2000, { ...settled(s), 'eu-1': releasing(X) });
    expect(s.targets['eu-2']).toBe(W);
    decide(t1 + HOUR + 3000, settled(s));
    expect(s.targets['eu-2']).toBe(X);
    // eu-2 done: wave 3 has no gates, so it starts in the same decision.
    decide(t1 + HOUR + 4000, settled(s));
    expect(s.wave).toBe(2);
    expect(s.targets['us-1']).toBe(X);
    decide(t1 + HOUR + 5000, settled(s));
    expect(s.phase).toBe('Completed');
    expect(reasons).toEqual(['FleetWaveStarted', 'FleetWaveCompleted', 'FleetWaveStarted', 'FleetWaveCompleted', 'FleetWaveStarted', 'FleetWaveCompleted', 'FleetCompleted']);
    expect(s.history.at(-1)!.message).toBe('fleet release shop/shop@aaaaaaaaaaaa completed: commit aaaaaaaaaaaa runs on staging, eu-1, eu-2, us-1');
  });

  it('replays after a crash at any point to the same decisions: no wave skipped or started twice', () => {
    // The same run as above, one decision per tick; after every decision, a replay of the saved
    // state (what a restarted controller reads) with the same observations decides nothing new.
    let s = startFleet({ id: 'r', commit: X, plan, now: T0 }).state;
    const started: string[] = [];
    for (let t = 0, n = 0; s.phase !== 'Completed' && n < 50; n++, t += 10 * 60_000) {
      const observed = settled(s);
      const commands: FleetCommand[] = s.wave === 1 ? [{ action: 'approve', release: 'r', wave: 1, by: 'alice', at: new Date(T0 + t).toISOString() }] : [];
      s = foldFleetCommands(s, commands, T0 + t).state;
      const d = decideFleet({ plan, state: s, observed, now: T0 + t });
      started.push(...d.events.filter((e) => e.reason === 'FleetWaveStarted').map((e) => e.message));
      const saved = JSON.parse(JSON.stringify(d.state)) as FleetState;
      const replay = decideFleet({ plan, state: saved, observed, now: T0 + t });
      expect(replay.events, `replay at +${t / 60_000} min`).toEqual([]);
      expect(replay.state).toEqual(saved);
      s = saved;
    }
    expect(s.phase).toBe('Completed');
    expect(started.map((m) => /wave \d\/3 \((\S+)\)/.exec(m)![1])).toEqual(['staging', 'prod-eu', 'prod']);
  });

  it('pauses at a wave whose metric gate fails; the later waves keep the previous commit; resume measures again', () => {
    const gated = resolveWaves({ version: 1, waves: [spec.waves[0]!, { ...spec.waves[1]!, gates: [metric], maxParallel: undefined } as never, spec.waves[2]!] }, clusters);
    let s = startFleet({ id: 'm', commit: X, plan: gated, prior: completed({ staging: W, 'eu-1': W, 'eu-2': W, 'us-1': W }), now: T0 }).state;
    s = decideFleet({ plan: gated, state: s, observed: settled(s), now: T0 }).state;
    const measuring = decideFleet({ plan: gated, state: s, observed: settled(s), now: T0 + 1000 });
    expect(measuring.measure).toEqual(['1/0']);
    s = measuring.state;
    // The controller measured: 0.2 errors.
    const measurement = recordMeasurement(undefined, { at: new Date(T0 + 2000).toISOString(), phase: 'Failed', value: 0.2, message: 'result 0.2' });
    s = { ...s, waves: s.waves.map((w, i) => (i === 1 ? { ...w, gates: { '1/0': { status: 'Pending', message: '', since: '', measurement } } } : w)) };
    const paused = decideFleet({ plan: gated, state: s, observed: settled(s), now: T0 + 3000 });
    expect(paused.state.phase).toBe('Paused');
    expect(paused.events.map((e) => `${e.type} ${e.reason}`)).toEqual(['Warning FleetPaused']);
    expect(paused.state.pause!.reason).toMatch(/^wave 2\/3 \(prod-eu\): metric errors .* failed: .*later waves keep the previous commit/);
    expect(paused.state.targets).toEqual({ staging: X, 'eu-1': W, 'eu-2': W, 'us-1': W });
    // Paused: nothing moves, however long.
    expect(decideFleet({ plan: gated, state: paused.state, observed: settled(paused.state), now: T0 + 10 * HOUR }).changed).toBe(false);
    const resumed = foldFleetCommands(paused.state, [{ action: 'resume', release: 'm', by: 'bob', at: '' }], T0 + 4000).state;
    expect(resumed.phase).toBe('Progressing');
    expect(resumed.waves[1]!.gates).toEqual({});
  });

  it('pauses when a cluster cannot take the commit, and waits (without blocking anything else) on one that does not answer', () => {
    let s = startFleet({ id: 'f', commit: X, plan, now: T0 }).state;
    s = decideFleet({ plan, state: s, observed: {}, now: T0 }).state;
    const unreachable = decideFleet({ plan, state: s, observed: { staging: { reachable: false, message: 'connect ECONNREFUSED', releasing: [] } }, now: T0 + 1000 });
    expect(unreachable.changed).toBe(false);
    expect(unreachable.state.phase).toBe('Progressing');
    const failed = decideFleet({ plan, state: s, observed: { staging: { reachable: true, appliedCommit: W, sync: 'Failed', releasing: [], failed: 'commit aaaaaaaaaaaa failed to apply: admission webhook denied it' } }, now: T0 + 2000 });
    expect(failed.state.phase).toBe('Paused');
    expect(failed.state.pause!.reason).toBe('wave 1/3 (staging): cluster staging: commit aaaaaaaaaaaa failed to apply: admission webhook denied it; later waves keep the previous commit (fix it with a new commit, or abort to roll the clusters that got this one back)');
  });

  it('abort gives the clusters that got the commit what they ran before', () => {
    let s = startFleet({ id: 'a', commit: X, plan, prior: completed({ staging: W, 'eu-1': W, 'eu-2': W }), now: T0 }).state;
    s = decideFleet({ plan, state: s, observed: {}, now: T0 }).state;
    s = decideFleet({ plan, state: s, observed: settled(s), now: T0 + 1000 }).state;
    expect(s.targets.staging).toBe(X);
    const aborted = foldFleetCommands(s, [{ action: 'abort', release: 'a', by: 'alice', at: '' }], T0 + 2000);
    expect(aborted.state.phase).toBe('Aborted');
    expect(aborted.state.targets).toEqual({ staging: W, 'eu-1': W, 'eu-2': W });
    expect(aborted.events[0]!.message).toBe('fleet release a aborted by alice: staging go back to what they ran before');
    // A command for another release, or after the end, changes nothing.
    expect(foldFleetCommands(aborted.state, [{ action: 'abort', release: 'a', by: 'alice', at: '' }, { action: 'resume', release: 'a', by: 'x', at: '' }], T0).state.phase).toBe('Aborted');
  });

  it('a newer commit supersedes the release: it starts at the first wave, and each cluster keeps what it has until its wave gets it', () => {
    let s = startFleet({ id: 'x', commit: X, plan, prior: completed({ staging: W, 'eu-1': W, 'eu-2': W, 'us-1': W }), now: T0 }).state;
    s = decideFleet({ plan, state: s, observed: {}, now: T0 }).state;
    const Y = 'c'.repeat(40);
    const next = startFleet({ id: 'y', commit: Y, plan, prior: s, now: T0 + 1000 });
    expect(next.events.map((e) => e.reason)).toEqual(['FleetSuperseded', 'FleetStarted']);
    expect(next.state.previous).toEqual({ staging: X, 'eu-1': W, 'eu-2': W, 'us-1': W });
    const d = decideFleet({ plan, state: next.state, observed: {}, now: T0 + 1000 });
    expect(d.state.targets).toEqual({ staging: Y, 'eu-1': W, 'eu-2': W, 'us-1': W });
  });

  it('pauses at a wave that names a cluster no Secret registers', () => {
    const named = resolveWaves({ version: 1, waves: [{ name: 'one', clusters: { names: ['staging', 'gone'] }, gates: [] }] }, clusters);
    const s = startFleet({ id: 'n', commit: X, plan: named, now: T0 }).state;
    const d = decideFleet({ plan: named, state: s, observed: {}, now: T0 });
    expect(d.state.pause!.reason).toBe('wave 1/1 (one) names clusters no Secret registers: gone (register them with a Secret labelled kgitops.io/cluster, or change the wave)');
    expect(d.state.targets).toEqual({});
  });
});

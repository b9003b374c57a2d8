/** The release state machine, as a pure function: every rule checked in isolation. */
import { Duration } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { Gate, Release, Step } from '../../../dsl/release.js';
import { decide, type Observation, windowAt } from '../../../engine/release/machine.js';
import { expectedUpdated, holdPartition, stepPartition } from '../../../engine/release/plan.js';
import type { ReleaseState } from '../../../engine/release/state.js';

const T0 = Date.UTC(2026, 10, 24, 10, 0, 0);
const iso = (t: number) => new Date(t).toISOString();

function state(over: Partial<ReleaseState> = {}): ReleaseState {
  return {
    id: 'shop/web@aaaaaaaaaa', revision: 'aaaaaaaaaa', previousRevision: 'bbbbbbbbbb', phase: 'Progressing', step: 0, steps: 3,
    startedAt: iso(T0), stepStartedAt: iso(T0), gates: {}, approvals: [], history: [], ...over,
  };
}

function obs(over: Partial<Observation> = {}): Observation {
  return { generation: 2, observedGeneration: 2, scale: { total: 10 }, updated: 0, updatedReady: 0, partition: '100%', paused: false, ...over };
}

const canary = Release.canary('10%', '50%', '100%').bakeFor(Duration.minutes(1))._toSpec();

describe('decide', () => {
  it('first writes the step\'s partition and waits for the controller', () => {
    const d = decide({ plan: canary, kind: 'CloneSet', state: state(), observed: obs(), now: T0 });
    expect(d.write).toEqual({ partition: '90%' });
    expect(d.state.gates['0/0']).toMatchObject({ status: 'Pending', message: 'waiting for the controller to observe the new partition' });
  });

  it('waits while observedGeneration lags, even if the counters look done', () => {
    const d = decide({ plan: canary, kind: 'CloneSet', state: state(), observed: obs({ partition: '90%', observedGeneration: 1, updated: 1, updatedReady: 1 }), now: T0 });
    expect(d.state.step).toBe(0);
    expect(d.state.podsReadyAt).toBeUndefined();
  });

  it('bakes from the moment the pods are ready, then advances with the next partition in the same decision', () => {
    const ready = obs({ partition: '90%', updated: 1, updatedReady: 1 });
    const d1 = decide({ plan: canary, kind: 'CloneSet', state: state(), observed: ready, now: T0 + 5_000 });
    expect(d1.state.podsReadyAt).toBe(iso(T0 + 5_000));
    expect(d1.state.step).toBe(0);
    expect(d1.wakeAt).toBe(T0 + 65_000);
    const d2 = decide({ plan: canary, kind: 'CloneSet', state: d1.state, observed: ready, now: T0 + 64_999 });
    expect(d2.state.step).toBe(0);
    const d3 = decide({ plan: canary, kind: 'CloneSet', state: d2.state, observed: ready, now: T0 + 65_000 });
    expect(d3.state).toMatchObject({ step: 1, stepStartedAt: iso(T0 + 65_000), gates: {} });
    expect(d3.state.podsReadyAt).toBeUndefined();
    expect(d3.write).toEqual({ partition: '50%' });
    expect(d3.events[0]).toMatchObject({ reason: 'ReleaseStepAdvanced', message: expect.stringMatching(/^step 2\/3: 50% \(5 of 10 pods\)/) });
  });

  it('completes after the last step\'s gates pass', () => {
    const last = state({ step: 2, podsReadyAt: iso(T0) });
    const d = decide({ plan: canary, kind: 'CloneSet', state: last, observed: obs({ partition: '0%', updated: 10, updatedReady: 10 }), now: T0 + 60_000 });
    expect(d.state).toMatchObject({ phase: 'Completed', finishedAt: iso(T0 + 60_000) });
    expect(d.events.map((e) => e.reason)).toEqual(['ReleaseCompleted']);
    // A completed release decides nothing more.
    expect(decide({ plan: canary, kind: 'CloneSet', state: d.state, observed: obs(), now: T0 + 1e9 })).toMatchObject({ changed: false, write: {} });
  });

  it('pauses when the step\'s pods do not become ready in time', () => {
    const plan = Release.steps(Step.to('10%').gate(Gate.podsReady({ timeout: Duration.minutes(2) })), Step.to('100%'))._toSpec();
    const d = decide({ plan, kind: 'CloneSet', state: state(), observed: obs({ partition: '90%', updated: 1, updatedReady: 0 }), now: T0 + 120_000 });
    expect(d.state.phase).toBe('Paused');
    expect(d.state.pause?.reason).toBe('step 1/2: pods ready failed: pods not ready after 2m: 1/1 updated, 0 ready');
    expect(d.write).toEqual({ paused: true });
    expect(d.events[0]).toMatchObject({ type: 'Warning', reason: 'ReleasePaused' });
  });

  it('waits for an approval, by CLI or committed to git, and only from allowed approvers', () => {
    const plan = Release.steps(Step.to('10%').gate(Gate.approval({ approvers: ['alice'] })), Step.to('100%'))._toSpec();
    const o = obs({ partition: '90%', updated: 1, updatedReady: 1 });
    const waiting = decide({ plan, kind: 'CloneSet', state: state(), observed: o, now: T0 });
    expect(waiting.state.step).toBe(0);
    expect(waiting.state.gates['0/0'].message).toMatch(/^waiting for approval of step 1/);
    const byBob = decide({ plan, kind: 'CloneSet', state: state({ approvals: [{ step: 0, by: 'bob', at: iso(T0), via: 'cli' }] }), observed: o, now: T0 });
    expect(byBob.state.step).toBe(0);
    const byAlice = decide({ plan, kind: 'CloneSet', state: state({ approvals: [{ step: 0, by: 'alice', at: iso(T0), via: 'cli' }] }), observed: o, now: T0 });
    expect(byAlice.state.step).toBe(1);
    const viaGit = decide({ plan, kind: 'CloneSet', state: state(), observed: o, now: T0, gitApprovals: [{ by: 'alice', commit: 'c0ffee0000000000' }] });
    expect(viaGit.state.step).toBe(1);
    expect(viaGit.state.approvals).toEqual([{ step: 0, by: 'alice', at: iso(T0), via: 'git', commit: 'c0ffee0000000000' }]);
  });

  it('holds inside a blocked window (Friday afternoon in Berlin) and goes on after it', () => {
    const plan = Release.steps(Step.to('10%').gate(Gate.podsReady()), Step.to('100%'))
      .always(Gate.window.deny('0 12 * * 5', Duration.hours(12), 'Europe/Berlin'))._toSpec();
    const friday3pm = Date.UTC(2026, 10, 27, 14, 0, 0); // 15:00 in Berlin
    const o = obs({ partition: '90%', updated: 1, updatedReady: 1 });
    const d = decide({ plan, kind: 'CloneSet', state: state({ stepStartedAt: iso(friday3pm) }), observed: o, now: friday3pm });
    expect(d.state.step).toBe(0);
    expect(d.wakeAt).toBe(Date.UTC(2026, 10, 27, 23, 0, 0)); // midnight in Berlin
    expect(decide({ plan, kind: 'CloneSet', state: d.state, observed: o, now: d.wakeAt! }).state.step).toBe(1);
    expect(windowAt({ type: 'window', mode: 'allow', schedule: '0 9 * * 1-5', durationSeconds: 8 * 3600, timeZone: 'UTC' }, Date.UTC(2026, 10, 24, 16, 59)).inside).toBe(true);
  });

  it('asks for a measurement once the step\'s pods are ready, and pauses on a failed one', () => {
    const plan = Release.steps(Step.to('10%').gate(Gate.podsReady(), Gate.metric({ name: 'errors', prometheus: 'http://p:9090', query: 'x', successCondition: 'result < 1', count: 2, interval: Duration.seconds(30) })), Step.to('100%'))._toSpec();
    const before = decide({ plan, kind: 'CloneSet', state: state(), observed: obs({ partition: '90%' }), now: T0 });
    expect(before.measure).toEqual([]);
    const o = obs({ partition: '90%', updated: 1, updatedReady: 1 });
    const due = decide({ plan, kind: 'CloneSet', state: state(), observed: o, now: T0 });
    expect(due.measure).toEqual(['0/1']);
    const failedOnce = { ...due.state, gates: { ...due.state.gates, '0/1': { status: 'Pending' as const, message: '', since: iso(T0), measurement: { measurements: [{ at: iso(T0), phase: 'Failed' as const, value: 4, message: 'result 4 is not < 1' }], successful: 0, failed: 1, inconclusive: 0, errors: 0, consecutiveErrors: 0 } } } };
    const paused = decide({ plan, kind: 'CloneSet', state: failedOnce, observed: o, now: T0 + 1 });
    expect(paused.state.phase).toBe('Paused');
    expect(paused.state.pause?.reason).toMatch(/^step 1\/2: metric errors \(result < 1, 2x every 30s\) failed: 1 failed measurement \(failureLimit 0\): result 4 is not < 1/);
    expect(decide({ plan: { ...plan, onFailure: 'abort' }, kind: 'CloneSet', state: failedOnce, observed: o, now: T0 + 1 }).abort?.reason).toMatch(/failed/);
  });

  it('keeps a paused release paused, and writes paused=true if someone cleared it', () => {
    const d = decide({ plan: canary, kind: 'CloneSet', state: state({ phase: 'Paused', pause: { reason: 'x', by: 'alice', at: iso(T0) } }), observed: obs({ paused: false }), now: T0 });
    expect(d.write).toEqual({ paused: true });
    expect(d.state.step).toBe(0);
  });
});

describe('partitions per kind (the arithmetic preview and the engine share)', () => {
  it('moves the partition only forward over the steps', () => {
    const plan = Release.canary('10%', '25%', '50%', '100%')._toSpec();
    for (const kind of ['CloneSet', 'SidecarSet', 'DaemonSet', 'StatefulSet'] as const) {
      for (const total of [1, 3, 7, 10, 33]) {
        const updated = plan.steps.map((s) => expectedUpdated(kind, stepPartition(kind, s, { total }), { total }));
        expect(updated, `${kind} x${total}`).toEqual([...updated].sort((a, b) => a - b));
        expect(updated.at(-1)).toBe(total);
        expect(expectedUpdated(kind, holdPartition(kind, { total }), { total })).toBe(0);
      }
    }
  });

  it('rounds like Kruise: CloneSet keeps ceil, DaemonSet keeps floor, StatefulSet updates ceil', () => {
    const step = { target: '25%', gates: [] };
    expect(expectedUpdated('CloneSet', stepPartition('CloneSet', step, { total: 10 }), { total: 10 })).toBe(2); // keeps ceil(7.5)=8
    expect(expectedUpdated('DaemonSet', stepPartition('DaemonSet', step, { total: 10 }), { total: 10 })).toBe(3); // keeps floor(7.5)=7
    expect(stepPartition('StatefulSet', step, { total: 10 })).toBe(7); // updates ceil(2.5)=3
    expect(expectedUpdated('CloneSet', stepPartition('CloneSet', { target: '10%', gates: [] }, { total: 3 }), { total: 3 })).toBe(1);
  });

  it('UnitedDeployment: per subset, subset after subset', () => {
    const scale = { total: 9, subsets: { a: 3, b: 3, c: 3 } };
    const first = stepPartition('UnitedDeployment', { subsets: { a: '100%' }, gates: [] }, scale, holdPartition('UnitedDeployment', scale));
    expect(first).toEqual({ a: 0, b: 3, c: 3 });
    const second = stepPartition('UnitedDeployment', { subsets: { b: '100%' }, gates: [] }, scale, first);
    expect(second).toEqual({ a: 0, b: 0, c: 3 });
    expect(expectedUpdated('UnitedDeployment', second, scale)).toBe(6);
  });
});

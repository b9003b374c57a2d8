/**
 * A release state annotation that cannot be read (invalid JSON, wrong types, a step beyond the
 * plan), on the simulated cluster with a fake clock: the release stops where it is (no partition
 * write, git's next template held off), it is reported once as an Event, the controller keeps
 * running, and the fix it names (removing the annotation) starts the release again from step 1.
 */
import { Duration } from 'cdk8s';
import { afterEach, describe, expect, it } from 'vitest';
import { CloneSet, CloneSetUpdateStrategy, Release } from '../../../dsl/index.js';
import type { KubeObject } from '../../../engine/cluster/types.js';
import { issueCommand, CommandError } from '../../../engine/release/commands.js';
import { ANNOTATION_RELEASE_STATE, readReleaseState, type ReleaseState } from '../../../engine/release/state.js';
import { ReleaseBench, render } from '../../fixtures/release-sim.js';

const benches: ReleaseBench[] = [];
afterEach(() => { for (const b of benches.splice(0)) b.stop(); });

const canary = Release.canary('10%', '50%', '100%').bakeFor(Duration.minutes(1));
const web = (image: string) => render((c) => new CloneSet(c, 'web', {
  metadata: { name: 'web' }, replicas: 10, release: canary,
  updateStrategy: CloneSetUpdateStrategy.reCreate({ maxUnavailable: '50%' }),
  containers: [{ name: 'main', image, portNumber: 8080 }],
}));

const releaseWrites = (b: ReleaseBench) => b.sim.requests.filter((r) => r.fieldManager === 'kgitops-release' && r.wrote).length;
const podImages = (b: ReleaseBench) => b.sim.pods(b.tracked!.key).map((p) => p.spec.containers[0].image.split(':').pop()).sort().join(',');

async function setState(b: ReleaseBench, raw: string | undefined): Promise<void> {
  const live = await b.live();
  const annotations = { ...live.metadata.annotations };
  if (raw === undefined) delete annotations[ANNOTATION_RELEASE_STATE];
  else annotations[ANNOTATION_RELEASE_STATE] = raw;
  await b.sim.update({ ...live, metadata: { ...live.metadata, annotations } } as KubeObject, 'kubectl-edit');
}

describe('a release state that cannot be read', () => {
  it.each([
    { what: 'invalid JSON', tamper: () => '{"id": "shop/web@', problem: /^it is not valid JSON/ },
    { what: 'null', tamper: () => 'null', problem: /^it is null, not an object/ },
    { what: 'gates of the wrong type', tamper: (s: ReleaseState) => JSON.stringify({ ...s, gates: null }), problem: /^\.gates is not an object/ },
    { what: 'a step that is not a number', tamper: (s: ReleaseState) => JSON.stringify({ ...s, step: '2' }), problem: /^\.step is "2"/ },
    { what: 'a step beyond the plan', tamper: (s: ReleaseState) => JSON.stringify({ ...s, step: 6, steps: 9 }), problem: /^\.step is 7 \(from 1\), beyond the plan's 3 step\(s\)/ },
  ])('$what: the release stops where it is, is reported once, and starts again from step 1 once the annotation is removed', async ({ tamper, problem }) => {
    const b = new ReleaseBench();
    benches.push(b);
    await b.deploy(web('registry.example.com/web:1'));
    await b.runUntil(async () => podImages(b) === Array(10).fill('1').join(','));
    await b.deploy(web('registry.example.com/web:2'));
    await b.runUntil(async () => (await b.state())!.step === 1);
    const partition = (await b.live()).spec.updateStrategy.partition;
    expect(partition).toBe('50%');

    await setState(b, tamper((await b.state())!));
    const writes = releaseWrites(b);
    // Time passes (bakes would end, steps would advance); a new commit arrives and is reconciled.
    await b.runUntil(async () => false, { maxMs: 10 * 60_000, tickMs: 5_000 });
    await b.deploy(web('registry.example.com/web:3'));
    await b.runUntil(async () => false, { maxMs: 60_000, tickMs: 5_000 });
    const live = await b.live();
    expect(releaseWrites(b)).toBe(writes);
    expect(live.spec.updateStrategy.partition).toBe(partition);
    expect(live.spec.template.spec.containers[0].image).toBe('registry.example.com/web:2');
    expect(podImages(b)).not.toContain('3');
    const reported = b.sim.events(b.tracked!.key).filter((e) => e.reason === 'ReleaseStateInvalid');
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({ type: 'Warning', count: 1 });
    expect(reported[0].message).toMatch(/^CloneSet shop\/web: the release state \(annotation kgitops\.io\/release-state\) cannot be read: /);
    expect(reported[0].message).toContain('the release is stopped where it is (partition "50%" is not moved');
    expect(reported[0].message).toContain('to fix: remove the annotation (kubectl annotate clonesets.apps.kruise.io web -n shop kgitops.io/release-state-)');
    expect(readReleaseState(live.metadata.annotations?.[ANNOTATION_RELEASE_STATE], b.tracked!.plan).problem).toMatch(problem);
    // A command cannot be carried out on it: the CLI says so, with the fix.
    await expect(issueCommand(b.sim, b.tracked!.key, { action: 'abort' }, b.clock.now())).rejects.toThrow(CommandError);

    // The fix: remove the annotation. Git is back at web:2: its release starts again from step 1, held.
    await setState(b, undefined);
    await b.deploy(web('registry.example.com/web:2'));
    const restarted = (await b.state())!;
    expect(restarted).toMatchObject({ phase: 'Progressing', step: 0 });
    expect(restarted.history[0].message).toMatch(/started again from step 1 of 3/);
    const done = await b.runUntil(async () => (await b.state())!.phase === 'Completed');
    expect(done).toBe(true);
    expect(podImages(b)).toBe(Array(10).fill('2').join(','));
  });

  it('reads a sound state and rejects each kind of damage with the path that is wrong', () => {
    const sound: ReleaseState = {
      id: 'shop/web@0123456789', revision: '0123456789', phase: 'Progressing', step: 1, steps: 3, startedAt: '2026-01-01T00:00:00Z',
      stepStartedAt: '2026-01-01T00:01:00Z', gates: {}, approvals: [], history: [],
    };
    const plan = { steps: [{}, {}, {}] };
    expect(readReleaseState(JSON.stringify(sound), plan)).toEqual({ state: sound });
    expect(readReleaseState(undefined, plan)).toEqual({});
    const problems = [
      { ...sound, id: 42 }, { ...sound, revision: 'ffffffffff' }, { ...sound, phase: 'Dancing' }, { ...sound, step: -1 },
      { ...sound, step: 3 }, { ...sound, startedAt: 'yesterday' }, { ...sound, approvals: {} }, { ...sound, history: 'x' },
      { ...sound, gates: { '0/0': { status: 'Passed' } } }, { ...sound, commands: 1.5 }, [sound],
    ].map((s) => readReleaseState(JSON.stringify(s), plan).problem);
    expect(problems).toEqual([
      '.id is 42, not a release id like "shop/web@3f9c2a1b7d"',
      '.revision is "ffffffffff", not the revision of .id',
      '.phase is "Dancing", not one of Progressing, Paused, Completed, Aborted, Superseded',
      '.step is -1, not a step index (an integer from 0)',
      '.step is 4 (from 1), beyond its own 3 step(s)',
      '.startedAt is "yesterday", not a time',
      '.approvals is not a list',
      '.history is not a list of transitions',
      '.gates["0/0"] is not a gate state (status, message, since)',
      '.commands is 1.5, not a count',
      'it is an array, not an object',
    ]);
    expect(readReleaseState(JSON.stringify(sound), { steps: [{}] }).problem).toBe(".step is 2 (from 1), beyond the plan's 1 step(s)");
  });
});

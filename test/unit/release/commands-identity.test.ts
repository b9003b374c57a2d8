/**
 * Release commands carry the identity the cluster gives the caller, and only commands the CLI
 * wrote count: on the simulated cluster, a command written by kubectl (an Update) or by another
 * field manager is skipped with a Warning, and a later CLI command neither revives it nor
 * passes it off as its own.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CloneSet, CloneSetUpdateStrategy, Gate, Release, Step } from '../../../dsl/index.js';
import { keyOf } from '../../../engine/cluster/types.js';
import { issueCommand } from '../../../engine/release/commands.js';
import { ANNOTATION_RELEASE_COMMANDS } from '../../../engine/release/controller.js';
import { ReleaseBench, render } from '../../fixtures/release-sim.js';

const benches: ReleaseBench[] = [];
afterEach(() => { for (const b of benches.splice(0)) b.stop(); });

const plan = Release.steps(Step.to('50%').gate(Gate.approval()), Step.to('100%'));
const web = (image: string) => render((c) => new CloneSet(c, 'web', {
  metadata: { name: 'web' }, replicas: 4, release: plan,
  updateStrategy: CloneSetUpdateStrategy.reCreate({ maxUnavailable: '50%' }),
  containers: [{ name: 'main', image }],
}));

/** A release waiting at its approval gate. */
async function waiting(): Promise<{ b: ReleaseBench; id: string }> {
  const b = new ReleaseBench();
  benches.push(b);
  await b.deploy(web('registry.example.com/web:1'));
  await b.runUntil(async () => b.sim.pods(b.tracked!.key).length === 4);
  await b.deploy(web('registry.example.com/web:2'));
  await b.runUntil(async () => false, { maxMs: 30_000 });
  const s = (await b.state())!;
  expect(s).toMatchObject({ phase: 'Progressing', step: 0 });
  return { b, id: s.id };
}

const forged = (id: string) => JSON.stringify([{ release: id, action: 'approve', by: 'release-manager', at: '2026-01-01T00:00:00Z' }]);

describe('release commands', () => {
  it('record who the cluster says the caller is, and the note', async () => {
    const { b, id } = await waiting();
    b.sim.actAs('alice');
    const issued = await issueCommand(b.sim, keyOf(b.desired!), { action: 'approve', note: 'checked the dashboards' }, b.clock.now());
    expect(issued).toMatchObject({ state: { id }, by: { username: 'simulation:alice', simulated: true }, dropped: 0 });
    await b.runUntil(async () => (await b.state())!.phase === 'Completed');
    expect((await b.state())!.approvals).toEqual([expect.objectContaining({ step: 0, by: 'simulation:alice', via: 'cli', note: 'checked the dashboards' })]);
  });

  it('written by kubectl (an Update) are ignored with a Warning, and a later CLI command does not revive them', async () => {
    const { b, id } = await waiting();
    const live = await b.live();
    await b.sim.update({ ...live, metadata: { ...live.metadata, annotations: { ...live.metadata.annotations, [ANNOTATION_RELEASE_COMMANDS]: forged(id) } } }, 'kubectl-annotate');
    await b.runUntil(async () => false, { maxMs: 10_000 });
    let s = (await b.state())!;
    expect(s).toMatchObject({ phase: 'Progressing', step: 0, approvals: [] });
    const ignored = s.history.find((h) => h.reason === 'ReleaseCommandsIgnored');
    expect(ignored?.message).toBe(`ignored 1 command(s) for release ${id}: the ${ANNOTATION_RELEASE_COMMANDS} annotation was written by "kubectl-annotate" (Update), `
      + 'not by the kgitops CLI (field manager kgitops-cli); give commands with kgitops approve|pause|resume|abort');
    expect(b.sim.events(b.tracked!.key).filter((e) => e.reason === 'ReleaseCommandsIgnored')).toHaveLength(1);

    // The CLI carries the list on, forged entry included, now as kgitops-cli: it still does not count.
    await b.command('pause', 'carol');
    await b.runUntil(async () => (await b.state())!.phase === 'Paused');
    s = (await b.state())!;
    expect(s.approvals).toEqual([]);
    expect(s.pause).toMatchObject({ by: 'simulation:carol' });
  });

  it('written by another field manager\'s apply are ignored; the CLI drops those the engine has not seen', async () => {
    const { b, id } = await waiting();
    // The engine is down while both writes happen: it never saw the forged command.
    b.controller.stop();
    const live = await b.live();
    await b.sim.apply({ apiVersion: live.apiVersion, kind: live.kind, metadata: { name: live.metadata.name, namespace: live.metadata.namespace, annotations: { [ANNOTATION_RELEASE_COMMANDS]: forged(id) } } },
      { fieldManager: 'mallory', force: true });
    b.sim.actAs('carol');
    const issued = await issueCommand(b.sim, keyOf(b.desired!), { action: 'pause' }, b.clock.now());
    expect(issued.dropped).toBe(1);
    await b.restart();
    await b.runUntil(async () => (await b.state())!.phase === 'Paused');
    const s = (await b.state())!;
    expect(s.approvals).toEqual([]);
    expect(s.history.some((h) => h.reason === 'ReleaseCommandsIgnored')).toBe(false);
    expect(s.pause).toMatchObject({ by: 'simulation:carol' });
  });
});

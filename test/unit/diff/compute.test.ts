/** The diff's parts without git or processes: field changes, release aspects, plan read-outs, markdown limits. */
import { describe, expect, it } from 'vitest';
import { Chart, Duration } from 'cdk8s';
import { App, CloneSet, Gate, Release, Step } from '../../../dsl/index.js';
import type { RenderedObject } from '../../../dsl/app.js';
import { fieldChanges } from '../../../engine/diff/fields.js';
import { countChanges, diffObjects, type DiffResult, planChange, releaseAspect } from '../../../engine/diff/index.js';
import { formatMarkdown, MARKDOWN_LIMIT } from '../../../engine/diff/format.js';
import type { KubeObject } from '../../../engine/cluster/types.js';

const cm = (name: string, data: Record<string, string>, apiVersion = 'v1'): RenderedObject => ({
  manifest: { apiVersion, kind: 'ConfigMap', metadata: { name, namespace: 'shop' }, data }, chart: 'c', constructPath: `c/${name}`,
});

function cloneSet(image: string, release = Release.canary('10%', '100%')): RenderedObject {
  const app = new App();
  const chart = new Chart(app, 'c', { namespace: 'shop' });
  new CloneSet(chart, 'web', { metadata: { name: 'web' }, replicas: 10, release, containers: [{ name: 'web', image }] });
  return app.render().objects[0];
}

describe('fieldChanges', () => {
  it('matches named list items by name: an inserted container is one change, not a cascade', () => {
    const a = { containers: [{ name: 'web', image: 'w:1' }, { name: 'log', image: 'l:1' }] };
    const b = { containers: [{ name: 'init', image: 'i:1' }, { name: 'web', image: 'w:2' }, { name: 'log', image: 'l:1' }] };
    expect(fieldChanges(a, b)).toEqual([
      { path: 'containers[name=web].image', op: 'change', before: 'w:1', after: 'w:2' },
      { path: 'containers[name=init]', op: 'add', after: { name: 'init', image: 'i:1' } },
    ]);
  });

  it('reports a reorder of named items, and compares other lists by index', () => {
    expect(fieldChanges({ c: [{ name: 'a' }, { name: 'b' }] }, { c: [{ name: 'b' }, { name: 'a' }] }))
      .toEqual([{ path: 'c', op: 'change', before: ['a', 'b'], after: ['b', 'a'] }]);
    expect(fieldChanges({ args: ['-v', '1'] }, { args: ['-v', '2', '--x'] })).toEqual([
      { path: 'args[1]', op: 'change', before: '1', after: '2' },
      { path: 'args[2]', op: 'add', after: '--x' },
    ]);
  });

  it('quotes keys that are not identifiers, as the diagnostics do', () => {
    expect(fieldChanges({ metadata: { annotations: { 'kgitops.io/x': '1' } } }, { metadata: { annotations: {} } }))
      .toEqual([{ path: 'metadata.annotations["kgitops.io/x"]', op: 'remove', before: '1' }]);
  });

  it('finds nothing between equal documents, and a type change is one change', () => {
    expect(fieldChanges({ a: { b: [1, { c: null }] } }, { a: { b: [1, { c: null }] } })).toEqual([]);
    expect(fieldChanges({ x: '25%' }, { x: 2 })).toEqual([{ path: 'x', op: 'change', before: '25%', after: 2 }]);
  });
});

describe('release aspects', () => {
  it.each([
    ['spec.template.spec.containers[name=web].image', 'image'],
    ['spec.template.spec.initContainers[name=setup].image', 'image'],
    ['spec.containers[name=shipper].image', 'image'],
    ['spec.replicas', 'replicas'],
    ['spec.topology.subsets[name=zone-a].replicas', 'replicas'],
    ['spec.updateStrategy.maxUnavailable', 'strategy'],
    ['spec.updateStrategy.rollingUpdate.podUpdatePolicy', 'strategy'],
    ['spec.strategy.rollingUpdate.maxSurge', 'strategy'],
    ['spec.updateStrategy.partition', 'partition'],
    ['spec.updateStrategy.rollingUpdate.partition', 'partition'],
    ['spec.topology.manualUpdate.partitions.zone-a', 'partition'],
    ['spec.updateStrategy.paused', 'paused'],
    ['spec.paused', 'paused'],
    ['metadata.annotations["kgitops.io/release-plan"]', 'gates'],
  ])('%s is %s', (path, aspect) => {
    expect(releaseAspect(path)).toBe(aspect);
  });

  it('does not flag fields a release does not act on', () => {
    for (const p of ['data.v', 'metadata.labels.team', 'spec.template.spec.containers[name=web].env[name=X].value', 'spec.revisionHistoryLimit']) {
      expect(releaseAspect(p)).toBeUndefined();
    }
  });
});

describe('planChange', () => {
  it('reads out the steps whose gates change', () => {
    const a = cloneSet('r/web:1.0.0', Release.steps(Step.to('10%').gate(Gate.podsReady(), Gate.bake(Duration.minutes(5))), Step.to('100%').gate(Gate.podsReady())));
    const b = cloneSet('r/web:1.0.0', Release.steps(Step.to('10%').gate(Gate.podsReady(), Gate.bake(Duration.minutes(10))), Step.to('50%').gate(Gate.approval()), Step.to('100%').gate(Gate.podsReady())).abortOnFailure());
    expect(planChange(a.manifest as KubeObject, b.manifest as KubeObject)).toBe(
      'step 1: 10% (pods ready, bake 5m) -> 10% (pods ready, bake 10m); step 2: 100% (pods ready) -> 50% (approval); step 3 added: 100% (pods ready); on failure: pause -> abort',
    );
  });
});

describe('diffObjects', () => {
  it('matches across apiVersions of a group, orders changed, added, removed, and counts the unchanged', () => {
    const base = [cm('gone', { v: '1' }), cm('same', { v: '1' }), cm('edit', { v: '1' })];
    const head = [cm('new', { v: '1' }), cm('edit', { v: '2' }), cm('same', { v: '1' })];
    const { objects, unchanged } = diffObjects(base, head);
    expect(objects.map((o) => `${o.change} ${o.object.name}`)).toEqual(['changed edit', 'added new', 'removed gone']);
    expect(unchanged).toBe(1);
    expect(countChanges(objects)).toEqual({ added: 1, removed: 1, changed: 1 });
    expect(objects[0].unified).toContain('-  v: "1"\n+  v: "2"');
  });

  it('previews the release of a workload whose template changes, and says "no rollout" when only its plan does', () => {
    const a = cloneSet('r/web:1.0.0');
    const image = diffObjects([a], [cloneSet('r/web:1.1.0')]).objects[0];
    expect(image.preview?.steps.map((s) => s.updated)).toEqual([1, 10]);
    expect(image.release.map((f) => f.aspect)).toEqual(['image']);
    const gates = diffObjects([a], [cloneSet('r/web:1.0.0', Release.canary('20%', '100%'))]).objects[0];
    expect(gates.preview).toBeUndefined();
    expect(gates.noRollout).toBe(true);
    expect(gates.release[0]).toMatchObject({ aspect: 'gates', summary: 'step 1: 10% (pods ready, bake 5m) -> 20% (pods ready, bake 5m)' });
  });
});

describe('markdown', () => {
  it('stays under the comment size limit and says what it left out', () => {
    const base = Array.from({ length: 400 }, (_, i) => cm(`cm-${i}`, { v: 'x'.repeat(200) }));
    const head = base.map((o) => cm(o.manifest.metadata.name, { v: 'y'.repeat(200) }));
    const { objects, unchanged } = diffObjects(base, head);
    const r: DiffResult = {
      app: 'big', base: { label: 'main', objects: 400, diagnostics: [] }, head: { label: 'HEAD', objects: 400, diagnostics: [] },
      objects, unchanged, counts: countChanges(objects), policies: [],
    };
    const md = formatMarkdown(r);
    expect(md.length).toBeLessThan(MARKDOWN_LIMIT + 1000);
    expect(md).toContain('| | _and 250 more_ | | |');
    expect(md).toMatch(/_\d+ more object\(s\) not shown: a pull-request comment is limited in size\. Run `kgitops diff` \(or `-o json`\) for all\._\n$/);
  });
});

/**
 * Server-side apply on SimCluster: conflicts with other field managers, force, shared ownership,
 * removal of fields a manager stops applying, the Update operation (kubectl edit) taking
 * ownership so that the next apply conflicts, the status subresource, and managedFields in the
 * apiserver's FieldsV1 form.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../engine/clock.js';
import { ConflictError, RequestError } from '../../../engine/cluster/errors.js';
import type { KubeObject } from '../../../engine/cluster/types.js';
import { SimCluster } from '../../../engine/cluster/sim/index.js';
import { describePath, leaves, pathOf, toFieldsV1 } from '../../../engine/cluster/sim/fields.js';

const KEY = { apiVersion: 'v1', kind: 'ConfigMap', name: 'cfg', namespace: 'default' };

function cm(data: Record<string, string>, labels?: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default', ...(labels ? { labels } : {}) }, data };
}

function cloneSet(spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name: 'web', namespace: 'default' },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1' }] } },
      ...spec,
    },
  };
}

const fields = (o: KubeObject | undefined, manager: string, operation = 'Apply') =>
  o?.metadata.managedFields?.find((m) => m.manager === manager && m.operation === operation)?.fieldsV1;

describe('field paths', () => {
  it('keys lists of named objects by name and treats other lists as atomic', () => {
    const set = leaves({ spec: { containers: [{ name: 'web', image: 'a', args: ['x', 'y'] }], ports: [80, 443], empty: {} } });
    expect([...set].map((k) => describePath(pathOf(k))).sort()).toEqual([
      '.spec.containers[name="web"]', '.spec.containers[name="web"].args', '.spec.containers[name="web"].image',
      '.spec.containers[name="web"].name', '.spec.empty', '.spec.ports',
    ]);
    expect(toFieldsV1(set)).toEqual({
      'f:spec': {
        'f:containers': { 'k:{"name":"web"}': { '.': {}, 'f:args': {}, 'f:image': {}, 'f:name': {} } },
        'f:empty': {}, 'f:ports': {},
      },
    });
  });
});

describe('server-side apply', () => {
  it('creates with uid, resourceVersion, creationTimestamp from the clock and FieldsV1 managedFields (a ConfigMap has no generation)', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 23, 9, 0, 0));
    const sim = new SimCluster({ clock });
    const o = await sim.apply(cm({ a: '1' }, { team: 'x' }), { fieldManager: 'kgitops' });
    expect(o.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(o.metadata.resourceVersion).toMatch(/^\d+$/);
    expect(o.metadata.generation).toBeUndefined();
    expect((await sim.apply(cloneSet(), { fieldManager: 'kgitops' })).metadata.generation).toBe(1);
    expect(o.metadata.creationTimestamp).toBe('2026-11-23T09:00:00Z');
    expect(o.metadata.managedFields).toEqual([{
      manager: 'kgitops', operation: 'Apply', apiVersion: 'v1', time: '2026-11-23T09:00:00Z', fieldsType: 'FieldsV1',
      fieldsV1: { 'f:data': { 'f:a': {} }, 'f:metadata': { 'f:labels': { 'f:team': {} } } },
    }]);
  });

  it('a no-op apply writes nothing (resourceVersion unchanged)', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    const a = await sim.apply(cm({ a: '1' }), { fieldManager: 'kgitops' });
    const b = await sim.apply(cm({ a: '1' }), { fieldManager: 'kgitops' });
    expect(b.metadata.resourceVersion).toBe(a.metadata.resourceVersion);
    expect(sim.requests.filter((r) => r.verb === 'apply').map((r) => r.wrote)).toEqual([true, false]);
  });

  it('a different value for a field another manager owns is a conflict naming every field and manager', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    await sim.apply(cm({ a: '1', b: '2' }), { fieldManager: 'alice' });
    const err = await sim.apply(cm({ a: 'x', b: 'y', c: '3' }), { fieldManager: 'bob' }).catch((e) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.status).toBe(409);
    expect(err.conflicts).toEqual([{ field: '.data.a', manager: 'alice' }, { field: '.data.b', manager: 'alice' }]);
    expect(err.message).toContain('.data.a is owned by "alice"');
    // Nothing was written.
    expect((await sim.get(KEY))!.data).toEqual({ a: '1', b: '2' });
  });

  it('force takes the conflicting fields over', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    await sim.apply(cm({ a: '1', b: '2' }), { fieldManager: 'alice' });
    const o = await sim.apply(cm({ a: 'x' }), { fieldManager: 'bob', force: true });
    expect(o.data).toEqual({ a: 'x', b: '2' });
    expect(fields(o, 'alice')).toEqual({ 'f:data': { 'f:b': {} } });
    expect(fields(o, 'bob')).toEqual({ 'f:data': { 'f:a': {} } });
    // alice now conflicts with bob on a.
    const err = await sim.apply(cm({ a: '1', b: '2' }), { fieldManager: 'alice' }).catch((e) => e);
    expect(err.conflicts).toEqual([{ field: '.data.a', manager: 'bob' }]);
  });

  it('the same value applied by two managers is owned by both, and survives one of them dropping it', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    await sim.apply(cm({ a: '1' }), { fieldManager: 'alice' });
    const o = await sim.apply(cm({ a: '1' }), { fieldManager: 'bob' });
    expect(fields(o, 'alice')).toEqual({ 'f:data': { 'f:a': {} } });
    expect(fields(o, 'bob')).toEqual({ 'f:data': { 'f:a': {} } });
    const after = await sim.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' } }, { fieldManager: 'alice' });
    expect(after.data).toEqual({ a: '1' });
    expect(after.metadata.managedFields!.map((m) => m.manager)).toEqual(['bob']);
  });

  it('removes fields a manager applied before and no longer applies, and prunes emptied maps', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    await sim.apply(cm({ a: '1', b: '2' }, { team: 'x' }), { fieldManager: 'kgitops' });
    const o = await sim.apply(cm({ a: '1' }), { fieldManager: 'kgitops' });
    expect(o.data).toEqual({ a: '1' });
    expect(o.metadata.labels).toBeUndefined();
  });

  it('removes a named list item the manager dropped, keeps one another manager owns', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    const two = cloneSet({ template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1' }, { name: 'log', image: 'fluent:1' }] } } });
    await sim.apply(two, { fieldManager: 'kgitops' });
    const one = await sim.apply(cloneSet(), { fieldManager: 'kgitops' });
    expect(one.spec.template.spec.containers.map((c: { name: string }) => c.name)).toEqual(['web']);
    expect(one.metadata.generation).toBe(2);
    // Another manager adds a container; kgitops re-applying its own does not remove it.
    await sim.apply({ ...cloneSet(), spec: { template: { spec: { containers: [{ name: 'proxy', image: 'envoy:1' }] } } } }, { fieldManager: 'mesh' });
    const again = await sim.apply(cloneSet({ replicas: 4 }), { fieldManager: 'kgitops' });
    expect(again.spec.template.spec.containers.map((c: { name: string }) => c.name)).toEqual(['web', 'proxy']);
  });

  it('an Update (kubectl edit) takes the fields it changed, so the next apply of another value conflicts', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    const live = await sim.apply(cloneSet(), { fieldManager: 'kgitops' });
    live.spec.replicas = 5;
    live.metadata.labels = { edited: 'yes' };
    const edited = await sim.update(live, 'kubectl-edit');
    expect(edited.spec.replicas).toBe(5);
    expect(fields(edited, 'kubectl-edit', 'Update')).toEqual({ 'f:metadata': { 'f:labels': { 'f:edited': {} } }, 'f:spec': { 'f:replicas': {} } });
    expect(fields(edited, 'kgitops')).not.toHaveProperty(['f:spec', 'f:replicas']);
    const err = await sim.apply(cloneSet(), { fieldManager: 'kgitops' }).catch((e) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.conflicts).toEqual([{ field: '.spec.replicas', manager: 'kubectl-edit' }]);
    // Applying the edited value is no conflict (shared), and force puts git's value back.
    await expect(sim.apply(cloneSet({ replicas: 5 }), { fieldManager: 'kgitops' })).resolves.toBeTruthy();
    const fixed = await sim.apply(cloneSet(), { fieldManager: 'kgitops', force: true });
    expect(fixed.spec.replicas).toBe(3);
    expect(fields(fixed, 'kubectl-edit', 'Update')).toEqual({ 'f:metadata': { 'f:labels': { 'f:edited': {} } } });
  });

  it('owners() lists each manager\'s fields as conflict paths', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    const live = await sim.apply(cloneSet(), { fieldManager: 'kgitops' });
    await sim.update({ ...live, spec: { ...live.spec, replicas: 7 } }, 'kubectl-edit');
    expect(sim.owners({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web', namespace: 'default' })).toEqual([
      {
        manager: 'kgitops', operation: 'Apply',
        fields: ['.spec.selector.matchLabels.app', '.spec.template.metadata.labels.app', '.spec.template.spec.containers[name="web"].image', '.spec.template.spec.containers[name="web"].name'],
      },
      { manager: 'kubectl-edit', operation: 'Update', fields: ['.spec.replicas'] },
    ]);
    expect(sim.owners({ ...KEY, name: 'missing' })).toBeUndefined();
  });

  it('an Update with a stale resourceVersion is a 409', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    const a = await sim.apply(cm({ a: '1' }), { fieldManager: 'kgitops' });
    await sim.apply(cm({ a: '2' }), { fieldManager: 'kgitops' });
    const err = await sim.update({ ...a, data: { a: '3' } }).catch((e) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.conflicts).toEqual([]);
  });

  it('two field managers on one workload: git owns the template, the release owns the partition', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    await sim.apply(cloneSet(), { fieldManager: 'kgitops' });
    const r = await sim.apply({ ...cloneSet(), spec: { updateStrategy: { partition: '100%' } } }, { fieldManager: 'kgitops-release' });
    expect(r.spec.updateStrategy.partition).toBe('100%');
    // git re-applies without a partition: no conflict, the release's partition stays.
    const g = await sim.apply(cloneSet({ template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:2' }] } } }), { fieldManager: 'kgitops' });
    expect(g.spec.updateStrategy.partition).toBe('100%');
    expect(g.spec.template.spec.containers[0].image).toBe('nginx:2');
  });

  it('generation moves with the spec, not with metadata or status', async () => {
    const sim = new SimCluster({ clock: new FakeClock(), kruise: false });
    const a = await sim.apply(cloneSetless({ replicas: 1 }), { fieldManager: 'kgitops' });
    const b = await sim.apply({ ...cloneSetless({ replicas: 1 }), metadata: { ...cloneSetless({}).metadata, annotations: { x: 'y' } } }, { fieldManager: 'kgitops' });
    expect(b.metadata.generation).toBe(a.metadata.generation);
    expect(b.metadata.resourceVersion).not.toBe(a.metadata.resourceVersion);
    const c = await sim.applyStatus({ ...cloneSetless({}), status: { phase: 'x' } }, { fieldManager: 'ctl' });
    expect(c.metadata.generation).toBe(a.metadata.generation);
    const d = await sim.apply(cloneSetless({ replicas: 2 }), { fieldManager: 'kgitops' });
    expect(d.metadata.generation).toBe(a.metadata.generation! + 1);
  });

  it('ignores status on the main resource and everything but status on the status subresource', async () => {
    const sim = new SimCluster({ clock: new FakeClock(), kruise: false });
    const o = await sim.apply({ ...cloneSetless({ replicas: 1 }), status: { phase: 'fake' } }, { fieldManager: 'kgitops' });
    expect(o.status).toBeUndefined();
    const s = await sim.applyStatus({ ...cloneSetless({ replicas: 9 }), status: { phase: 'ok' } }, { fieldManager: 'ctl' });
    expect(s.spec.replicas).toBe(1);
    expect(s.status).toEqual({ phase: 'ok' });
    expect(s.metadata.managedFields!.find((m) => m.manager === 'ctl')).toMatchObject({ subresource: 'status', fieldsV1: { 'f:status': { 'f:phase': {} } } });
    await expect(sim.applyStatus({ ...cm({}), metadata: { name: 'nope', namespace: 'default' }, status: {} }, { fieldManager: 'x' }))
      .rejects.toMatchObject({ status: 404 });
  });

  it('dry run computes the result (and conflicts) without storing it', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    const dry = await sim.apply(cm({ a: '1' }), { fieldManager: 'kgitops', dryRun: true });
    expect(dry.data).toEqual({ a: '1' });
    expect(await sim.get(KEY)).toBeUndefined();
    await sim.apply(cm({ a: '1' }), { fieldManager: 'alice' });
    await expect(sim.apply(cm({ a: '2' }), { fieldManager: 'kgitops', dryRun: true })).rejects.toBeInstanceOf(ConflictError);
  });

  it('an apply with a stale metadata.resourceVersion is a 409', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    const a = await sim.apply(cm({ a: '1' }), { fieldManager: 'kgitops' });
    await sim.apply(cm({ a: '2' }), { fieldManager: 'kgitops' });
    const stale = { ...cm({ a: '3' }), metadata: { ...cm({}).metadata, resourceVersion: a.metadata.resourceVersion } };
    await expect(sim.apply(stale, { fieldManager: 'kgitops' })).rejects.toBeInstanceOf(ConflictError);
  });

  it('applies Kruise webhook defaults (owned by nobody) and rejects what the webhook rejects', async () => {
    const sim = new SimCluster({ clock: new FakeClock() });
    const o = await sim.apply(cloneSet(), { fieldManager: 'kgitops' });
    expect(o.spec.updateStrategy).toEqual({ type: 'ReCreate', partition: 0, maxUnavailable: '20%', maxSurge: 0 });
    expect(fields(o, 'kgitops')).not.toHaveProperty('f:spec.f:updateStrategy');
    const bad = cloneSet({ selector: { matchLabels: { app: 'other' } } });
    const err = await sim.apply(bad, { fieldManager: 'kgitops' }).catch((e) => e);
    expect(err).toBeInstanceOf(RequestError);
    expect(err.status).toBe(422);
    expect(err.message).toMatch(/selector/);
  });
});

/** A kind with no Kruise rules: a plain apps/v1 Deployment-like object stored as a ConfigMap-ish custom resource. */
function cloneSetless(spec: Record<string, unknown>): KubeObject {
  return { apiVersion: 'v1', kind: 'ReplicationController', metadata: { name: 'rc', namespace: 'default' }, spec: { selector: { app: 'x' }, ...spec } };
}

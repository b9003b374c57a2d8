/**
 * plan() on the simulated cluster: which existing objects an app may take over. Only members of
 * its ApplySet, and objects whose owner opted them in with kgitops.io/adopt=<its id>; never an
 * ApplySet parent; and a read RBAC refuses is reported, not read as "absent".
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ANNOTATION_ADOPT, applySetId, LABEL_ID, LABEL_PART_OF, prepareDesired } from '../../../engine/apply/applyset.js';
import { ForbiddenError } from '../../../engine/cluster/errors.js';
import { SimCluster } from '../../../engine/cluster/sim/index.js';
import { type KubeObject, keyOf, objectId } from '../../../engine/cluster/types.js';
import { realClock } from '../../../engine/clock.js';
import { type DesiredObject, plan, planRefusals } from '../../../engine/plan/index.js';

const ID = applySetId({ name: 'kgitops-shop', namespace: 'shop' });
const OTHER = applySetId({ name: 'kgitops-other', namespace: 'shop' });

const sims: SimCluster[] = [];
afterAll(() => { for (const s of sims) s.stop(); });

function sim(): SimCluster {
  const s = new SimCluster({ clock: realClock, namespaces: ['default', 'shop', 'kube-system'], nodes: 0 });
  sims.push(s);
  return s;
}

const cm = (name: string, o: { namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; data?: Record<string, string> } = {}): KubeObject => ({
  apiVersion: 'v1', kind: 'ConfigMap',
  metadata: { name, namespace: o.namespace ?? 'shop', ...(o.labels ? { labels: o.labels } : {}), ...(o.annotations ? { annotations: o.annotations } : {}) },
  data: o.data ?? { v: '1' },
});

function desired(m: KubeObject, constructPath = `app/${m.metadata.name}`): DesiredObject {
  const manifest = prepareDesired(m, { id: ID, namespaced: true, defaultNamespace: 'shop' });
  return { manifest, id: objectId(keyOf(manifest)), hash: manifest.metadata.annotations!['kgitops.io/desired-hash'], constructPath };
}

const planFor = (cluster: SimCluster, objects: DesiredObject[]) =>
  plan({ cluster, applySetId: ID, desired: objects, inventory: {}, knownGroupKinds: [], knownNamespaces: ['shop'] });

describe('plan(): ownership', () => {
  it('creates what does not exist and refuses an existing object it does not own, saying how its owner opts it in', async () => {
    const c = sim();
    await c.apply(cm('coredns', { namespace: 'kube-system', data: { Corefile: 'x' } }), { fieldManager: 'kubeadm' });
    const p = await planFor(c, [desired(cm('fresh')), desired(cm('coredns', { namespace: 'kube-system' }))]);
    expect(p.objects.map((o) => [o.desired.id, o.action, o.reason])).toEqual([['ConfigMap/shop/fresh', 'create', 'new']]);
    expect(p.unowned.map((u) => [u.desired.id, u.rule])).toEqual([['ConfigMap/kube-system/coredns', 'apply/not-owned']]);
    const [d] = planRefusals(p, ID);
    expect(d).toMatchObject({
      severity: 'error', rule: 'apply/not-owned', constructPath: 'app/coredns',
      object: { apiVersion: 'v1', kind: 'ConfigMap', name: 'coredns', namespace: 'kube-system' },
      message: `ConfigMap kube-system/coredns (construct app/coredns) already exists and is not managed by this app (no label ${LABEL_PART_OF}=${ID}): kgitops does not take over objects it did not create`,
    });
    expect(d.hint).toBe(`if this app should manage it from now on, its owner opts it in: kubectl annotate configmap/coredns -n kube-system kgitops.io/adopt=${ID}; otherwise rename it in git or remove it from git`);
  });

  it('adopts an object whose owner opted it in for this app, and only for this app', async () => {
    const c = sim();
    await c.apply(cm('mine', { annotations: { [ANNOTATION_ADOPT]: ID } }), { fieldManager: 'ops' });
    await c.apply(cm('theirs', { annotations: { [ANNOTATION_ADOPT]: OTHER } }), { fieldManager: 'ops' });
    const p = await planFor(c, [desired(cm('mine')), desired(cm('theirs'))]);
    expect(p.objects.map((o) => [o.desired.id, o.action, o.reason])).toEqual([['ConfigMap/shop/mine', 'update', `exists, opted in with ${ANNOTATION_ADOPT}: adopting it`]]);
    expect(p.unowned.map((u) => [u.desired.id, u.rule])).toEqual([['ConfigMap/shop/theirs', 'apply/not-owned']]);
  });

  it('never takes over an ApplySet parent, opted in or not, nor declares one', async () => {
    const c = sim();
    await c.apply(cm('kgitops-other', { labels: { [LABEL_ID]: OTHER }, annotations: { [ANNOTATION_ADOPT]: ID } }), { fieldManager: 'kgitops' });
    await c.apply(cm('kgitops-shop', { labels: { [LABEL_ID]: ID } }), { fieldManager: 'kgitops' });
    const p = await planFor(c, [desired(cm('kgitops-other')), desired(cm('kgitops-shop')), desired(cm('fake-parent', { labels: { [LABEL_ID]: OTHER } }))]);
    expect(p.objects).toEqual([]);
    expect(p.unowned.map((u) => [u.desired.id, u.rule])).toEqual([
      ['ConfigMap/shop/kgitops-other', 'apply/state-object'], ['ConfigMap/shop/kgitops-shop', 'apply/state-object'], ['ConfigMap/shop/fake-parent', 'apply/state-object'],
    ]);
    expect(planRefusals(p, ID).map((d) => d.message)).toEqual([
      `ConfigMap shop/kgitops-other (construct app/kgitops-other) is the ApplySet parent of another app (${OTHER}): an app never takes over an ApplySet's state`,
      'ConfigMap shop/kgitops-shop (construct app/kgitops-shop) is the ApplySet parent of this app (its own state): an app never takes over an ApplySet\'s state',
      `ConfigMap shop/fake-parent (construct app/fake-parent) declares the label ${LABEL_ID}, which makes it an ApplySet parent: an app never writes an ApplySet's state`,
    ]);
  });

  it('keeps planning its own members and refuses objects of another ApplySet', async () => {
    const c = sim();
    await c.apply(desired(cm('member')).manifest, { fieldManager: 'kgitops' });
    await c.apply(cm('other', { labels: { [LABEL_PART_OF]: OTHER } }), { fieldManager: 'kgitops' });
    const p = await planFor(c, [desired(cm('member')), desired(cm('other'))]);
    expect(p.objects.map((o) => [o.desired.id, o.action])).toEqual([['ConfigMap/shop/member', 'verify']]);
    expect(p.foreign.map((f) => [f.desired.id, f.owner])).toEqual([['ConfigMap/shop/other', OTHER]]);
    expect(p.unowned).toEqual([]);
  });

  it('reports a GET or a members\' list RBAC refuses, instead of reading the object as absent', async () => {
    const c = sim();
    const denied = (verb: string, namespace: string, name?: string) => new ForbiddenError({ verb, resource: 'configmaps', namespace, ...(name ? { name } : {}) },
      `configmaps${name ? ` "${name}"` : ''} is forbidden: User "system:serviceaccount:shop:deployer" cannot ${verb} resource "configmaps" in API group "" in the namespace "${namespace}"`);
    c.failNext({ verb: 'get', kind: 'ConfigMap', namespace: 'default', name: 'hidden', error: denied('get', 'default', 'hidden'), times: Infinity });
    c.failNext({ verb: 'list', kind: 'ConfigMap', namespace: 'kube-system', error: denied('list', 'kube-system'), times: Infinity });
    const p = await planFor(c, [desired(cm('ok')), desired(cm('hidden', { namespace: 'default' })), desired(cm('unlisted', { namespace: 'kube-system' }))]);
    expect(p.objects.map((o) => [o.desired.id, o.action])).toEqual([['ConfigMap/shop/ok', 'create']]);
    expect(p.forbidden.map((f) => [f.desired?.id, f.error.request.verb])).toEqual([['ConfigMap/default/hidden', 'get'], ['ConfigMap/kube-system/unlisted', 'list']]);
    const ds = planRefusals(p, ID);
    expect(ds.map((d) => [d.rule, d.object?.namespace, d.object?.name])).toEqual([['apply/forbidden', 'default', 'hidden'], ['apply/forbidden', 'kube-system', 'unlisted']]);
    expect(ds[1].message).toBe(`ConfigMap kube-system/unlisted (construct app/unlisted) cannot be planned: this app's identity may not list the app's members of its kind in its namespace: ${p.forbidden[1].error.message}`);
    expect(ds[0].message).toBe('ConfigMap default/hidden (construct app/hidden) cannot be planned: this app\'s identity may not read it: missing permission: get configmaps hidden in namespace default is forbidden (403): '
      + 'configmaps "hidden" is forbidden: User "system:serviceaccount:shop:deployer" cannot get resource "configmaps" in API group "" in the namespace "default"');
    expect(ds[0].hint).toBe('remove it from git if this app should not manage it; otherwise grant the verb "get" on configmaps to the engine\'s user (a Role or ClusterRole and a binding)');

    // A scope only earlier members live in: the list is refused, so prune cannot be planned there.
    const q = await plan({ cluster: c, applySetId: ID, desired: [desired(cm('ok'))], inventory: {}, knownGroupKinds: ['ConfigMap'], knownNamespaces: ['shop', 'kube-system'] });
    expect(q.forbidden.map((f) => [f.desired, f.scope])).toEqual([[undefined, { groupKind: 'ConfigMap', namespace: 'kube-system' }]]);
    expect(planRefusals(q, ID)[0].message).toMatch(/^the members of this app's ApplySet of kind ConfigMap in namespace kube-system cannot be listed: missing permission: list configmaps in namespace kube-system is forbidden/);
  });
});

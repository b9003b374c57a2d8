/**
 * The examples repo (a shop on OpenKruise): every kind is there, everything validates, and the
 * synthesized YAML is pinned by snapshots (review a snapshot change like a manifest change).
 */
import { describe, expect, it } from 'vitest';
import { App } from '../../../dsl/index.js';
import { toYaml } from '../../../dsl/output.js';
import { validateObjects } from '../../../engine/validate/index.js';
import { PlatformChart } from '../../../examples/lib/platform.js';
import { ShopChart } from '../../../examples/lib/shop.js';

function renderExamples() {
  const app = new App({ acceptCdk8sPlusDefaults: true });
  new ShopChart(app, 'shop', { namespace: 'shop' });
  new PlatformChart(app, 'platform', { namespace: 'platform' });
  return app.render();
}

describe('examples', () => {
  const { objects, diagnostics } = renderExamples();
  const find = (kind: string) => objects.find((o) => o.manifest.kind === kind)!.manifest;

  it('has all seven Kruise workload kinds at the chosen apiVersions', () => {
    const kinds = objects.filter((o) => o.manifest.apiVersion.startsWith('apps.kruise.io')).map((o) => `${o.manifest.apiVersion} ${o.manifest.kind}`);
    expect(kinds.sort()).toEqual([
      'apps.kruise.io/v1alpha1 AdvancedCronJob', 'apps.kruise.io/v1alpha1 BroadcastJob', 'apps.kruise.io/v1alpha1 CloneSet', 'apps.kruise.io/v1alpha1 DaemonSet',
      'apps.kruise.io/v1alpha1 SidecarSet', 'apps.kruise.io/v1alpha1 UnitedDeployment', 'apps.kruise.io/v1beta1 StatefulSet',
    ]);
    // The nightly clean-up is a cron broadcast job.
    expect(find('AdvancedCronJob').spec.template.broadcastJobTemplate.spec.parallelism).toBe('10%');
  });

  it('validates against the CRD schemas, the Kubernetes schemas and the Kruise rules', () => {
    expect(diagnostics).toEqual([]);
    expect(validateObjects(objects)).toEqual([]);
  });

  it('storefront: in place, 20% surge, a weight priority, and a gated release plan', () => {
    const cs = find('CloneSet');
    const us = cs.spec.updateStrategy;
    expect(us).toMatchObject({ type: 'InPlaceIfPossible', maxSurge: '20%' });
    expect(us.priorityStrategy.weightPriority[0]).toEqual({ weight: 100, matchSelector: { matchLabels: { 'shop.example.com/release-group': 'canary' } } });
    const plan = JSON.parse(cs.metadata.annotations['kgitops.io/release-plan']);
    expect(plan.steps.map((s: any) => s.target)).toEqual(['10%', '50%', '100%']);
    expect(plan.steps[0].gates.map((g: any) => g.type)).toEqual(['podsReady', 'bake', 'metric']);
    expect(plan.steps[1].gates.map((g: any) => g.type)).toEqual(['podsReady', 'approval']);
    expect(plan.always).toEqual([{ type: 'window', mode: 'deny', schedule: '0 12 * * 5', durationSeconds: 66 * 3600, timeZone: 'Europe/Berlin' }]);
  });

  it('zookeeper: parallel, in place, followers before the leader', () => {
    const spec = find('StatefulSet').spec;
    expect(spec.podManagementPolicy).toBe('Parallel');
    expect(spec.updateStrategy.rollingUpdate).toMatchObject({
      podUpdatePolicy: 'InPlaceIfPossible', unorderedUpdate: { priorityStrategy: { orderPriority: [{ orderedKey: 'zookeeper.example.com/update-order' }] } },
    });
    expect(spec.template.spec.readinessGates).toEqual([{ conditionType: 'InPlaceUpdateReady' }]);
    expect(spec.volumeClaimTemplates[0].metadata.name).toBe('data');
  });

  it('logging SidecarSet: cluster-scoped and selects the storefront and cart pods', () => {
    const ss = find('SidecarSet');
    expect(ss.metadata.namespace).toBeUndefined();
    const podLabels = find('CloneSet').spec.template.metadata.labels;
    for (const [k, v] of Object.entries(ss.spec.selector.matchLabels)) expect(podLabels[k]).toBe(v);
  });

  it('cart: three zones, released zone by zone', () => {
    const ud = find('UnitedDeployment');
    expect(ud.spec.topology.subsets.map((s: any) => s.name)).toEqual(['zone-a', 'zone-b', 'zone-c']);
    const plan = JSON.parse(ud.metadata.annotations['kgitops.io/release-plan']);
    expect(plan.steps.map((s: any) => s.subsets)).toEqual([{ 'zone-a': '100%' }, { 'zone-b': '100%' }, { 'zone-c': '100%' }]);
  });

  it.each(['shop', 'platform'])('%s chart YAML matches its snapshot', async (chart) => {
    const yaml = toYaml(objects.filter((o) => o.chart === chart).map((o) => o.manifest));
    await expect(yaml).toMatchFileSnapshot(`./__snapshots__/${chart}.k8s.yaml`);
  });

  it('renders byte-identical YAML every time', () => {
    const again = renderExamples().objects;
    expect(toYaml(again.map((o) => o.manifest))).toBe(toYaml(objects.map((o) => o.manifest)));
  });
});

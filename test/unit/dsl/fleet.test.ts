/** Fleets (dsl/fleet.ts): the waves a commit is promoted through, rendered as a FleetPlan and checked with the rest. */
import { Chart, Duration } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { App, CloneSet, Fleet, Gate, Wave } from '../../../dsl/index.js';
import { isFleetPlan as isFleetPlanObject } from '../../../dsl/fleet-plan.js';
import { checkRules } from '../../../dsl/rules.js';
import { validateObjects } from '../../../engine/validate/index.js';

function render(build: (chart: Chart) => void) {
  const app = new App({ acceptCdk8sPlusDefaults: true });
  const chart = new Chart(app, 'shop', { namespace: 'shop' });
  new CloneSet(chart, 'web', { metadata: { name: 'web' }, replicas: 2, containers: [{ name: 'web', image: 'registry.example.com/web:1.0.0' }] });
  build(chart);
  return app.render();
}

describe('a Fleet', () => {
  it('renders its waves as a FleetPlan, which the schemas and the rules accept', () => {
    const r = render((chart) => new Fleet(chart, 'fleet', Fleet.waves(
      Wave.clusters({ env: 'staging' }),
      Wave.clusters({ env: 'prod', region: 'eu' }).after(Gate.bake(Duration.hours(1)), Gate.approval()).maxParallel(2),
      Wave.named('us-east', 'us-west').called('rest-of-prod'),
    )));
    expect(r.diagnostics).toEqual([]);
    expect(validateObjects(r.objects).map((d) => d.message)).toEqual([]);
    const plan = r.objects.find((o) => isFleetPlanObject(o.manifest))!;
    expect(plan.constructPath).toBe('shop/fleet');
    expect(plan.source).toMatch(/fleet\.test\.ts:\d+:\d+$/);
    expect(plan.manifest).toEqual({
      apiVersion: 'kgitops.io/v1alpha1', kind: 'FleetPlan', metadata: { name: 'fleet', namespace: 'shop' },
      spec: {
        version: 1,
        waves: [
          { name: 'wave-1', clusters: { matchLabels: { env: 'staging' } }, gates: [] },
          { name: 'wave-2', clusters: { matchLabels: { env: 'prod', region: 'eu' } }, gates: [{ type: 'bake', seconds: 3600 }, { type: 'approval' }], maxParallel: 2 },
          { name: 'rest-of-prod', clusters: { names: ['us-east', 'us-west'] }, gates: [] },
        ],
      },
    });
  });

  it('says what is wrong with a plan, with the JSON path of each problem', () => {
    const r = render((chart) => new Fleet(chart, 'fleet', Fleet.waves(
      Wave.clusters({ env: 'staging' }).after(Gate.bake(Duration.minutes(5))),
      Wave.clusters({ 'not a key': 'x' }).after(Gate.podsReady(), Gate.window.deny('not cron', Duration.hours(1))).maxParallel(0),
      Wave.named('Bad_Name').called('wave-1'),
    )));
    const plan = r.objects.find((o) => isFleetPlanObject(o.manifest))!;
    expect(checkRules(plan.manifest).map((d) => `${d.rule} ${d.path}: ${d.message}`)).toEqual([
      'fleet/plan spec.waves[0].gates[0]: the first wave starts with the commit: there is nothing to bake before it (put the bake on the wave after it)',
      'fleet/plan spec.waves[1].clusters.matchLabels: "not a key" is not a label key',
      'fleet/plan spec.waves[1].maxParallel: maxParallel must be a positive integer, got 0',
      'fleet/plan spec.waves[1].gates[0]: "podsReady" is not a gate between waves (use bake, metric, http, approval or window; a wave is done once its clusters are synced, healthy and released)',
      expect.stringMatching(/^fleet\/plan spec\.waves\[1\]\.gates\[1\]\.schedule: invalid schedule "not cron"/),
      'fleet/plan spec.waves[2].name: two waves are called wave-1',
      'fleet/plan spec.waves[2].clusters.names: "Bad_Name" is not a cluster name',
    ]);
    // The engine's validation reports them once, tied to the construct and its source line.
    const ds = validateObjects(r.objects);
    expect(ds).toHaveLength(7);
    expect(ds[0]).toMatchObject({ severity: 'error', object: { kind: 'FleetPlan', name: 'fleet' }, constructPath: 'shop/fleet', source: expect.stringMatching(/fleet\.test\.ts:\d+:\d+$/) });
  });

  it('is one per app', () => {
    const r = render((chart) => {
      new Fleet(chart, 'a', Fleet.waves(Wave.named('x')));
      new Fleet(chart, 'b', Fleet.waves(Wave.named('y')));
    });
    expect(r.diagnostics.filter((d) => d.rule === 'construct/validation').map((d) => `${d.constructPath}: ${d.message}`)).toEqual([
      'shop/a: an app has one Fleet; this one and shop/b',
      'shop/b: an app has one Fleet; this one and shop/a',
    ]);
  });

  it('needs clusters in every wave, by names or labels, not both; and at least one wave', () => {
    expect(checkRules({ apiVersion: 'kgitops.io/v1alpha1', kind: 'FleetPlan', metadata: { name: 'f' }, spec: { version: 1, waves: [] } }).map((d) => d.message)).toEqual(['a fleet needs at least one wave']);
    expect(checkRules({ apiVersion: 'kgitops.io/v1alpha1', kind: 'FleetPlan', metadata: { name: 'f' }, spec: { version: 1, waves: [{ name: 'a', clusters: {}, gates: [] }, { name: 'b', clusters: { names: ['x'], matchLabels: { env: 'p' } }, gates: [] }] } }).map((d) => `${d.path}: ${d.message}`)).toEqual([
      'spec.waves[0].clusters: a wave needs clusters: Wave.named(...) or Wave.clusters({ label: value })',
      'spec.waves[1].clusters: choose clusters by names or by labels, not both',
    ]);
    expect(checkRules({ apiVersion: 'kgitops.io/v1alpha1', kind: 'FleetPlan', metadata: { name: 'f' }, spec: { waves: 'x' } }).map((d) => d.message)).toEqual(['not a fleet plan (expected { version: 1, waves: [...] })']);
  });
});

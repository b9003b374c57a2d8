/**
 * The built-in policy pack and the policy runner: for every built-in rule a passing and a
 * failing fixture with the exact diagnostic, its configuration, and evaluatePolicies /
 * assemble / policySet. Release plans are rendered through the DSL, so the annotation is the
 * one users ship.
 */
import { Chart, Duration } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { App, CloneSet, Gate, Release, Step } from '../../../dsl/index.js';
import type { Diagnostic } from '../../../dsl/diagnostics.js';
import { type AnyManifest, definePolicy, type PolicyTarget } from '../../../engine/policy/api.js';
import {
  advisoryPolicies, BUILTIN_POLICY_KEYS, type BuiltinPolicyConfig, builtinPolicies, DEFAULT_TAG_PATTERN, parseImage, registryOf,
} from '../../../engine/policy/builtin.js';
import { assemble, evaluatePolicies, policySet } from '../../../engine/policy/run.js';

// ---- fixtures ----------------------------------------------------------------------------------

const RESOURCES = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '128Mi' } };

function container(o: Record<string, unknown> = {}): Record<string, any> {
  return { name: 'web', image: 'registry.example.com/web:1.2.3', resources: structuredClone(RESOURCES), ...o };
}

/** A workload with a pod template that passes every default rule; `mutate` breaks one thing. */
function workload(apiVersion: string, kind: string, mutate: (m: any) => void = () => {}): AnyManifest {
  const m = {
    apiVersion, kind,
    metadata: { name: 'web', namespace: 'shop' },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [container()] } },
    },
  };
  mutate(m);
  return m;
}

const cloneSet = (mutate?: (m: any) => void) => workload('apps.kruise.io/v1alpha1', 'CloneSet', mutate);
const advancedStatefulSet = (mutate?: (m: any) => void) => workload('apps.kruise.io/v1beta1', 'StatefulSet', mutate);
const statefulSet = (mutate?: (m: any) => void) => workload('apps/v1', 'StatefulSet', mutate);
const deployment = (mutate?: (m: any) => void) => workload('apps/v1', 'Deployment', mutate);
const advancedDaemonSet = (mutate?: (m: any) => void) => workload('apps.kruise.io/v1alpha1', 'DaemonSet', (m) => { delete m.spec.replicas; mutate?.(m); });

function sidecarSet(containers: Record<string, any>[], mutate: (m: any) => void = () => {}): AnyManifest {
  const m = {
    apiVersion: 'apps.kruise.io/v1alpha1', kind: 'SidecarSet',
    metadata: { name: 'mesh' },
    spec: { selector: { matchLabels: { app: 'web' } }, containers },
  };
  mutate(m);
  return m;
}

const proxy = (image: string) => container({ name: 'proxy', image });

function target(manifest: AnyManifest, source?: string): PolicyTarget {
  return { manifest, constructPath: `shop/${manifest.metadata.name}`, chart: 'shop', ...(source ? { source } : {}) };
}

/** Every built-in rule off: tests turn on the one they look at. */
const OFF = Object.fromEntries(BUILTIN_POLICY_KEYS.map((k) => [k, false])) as BuiltinPolicyConfig;

/** What a user reads of a diagnostic (object and construct are checked separately). */
function brief(d: Diagnostic) {
  return { severity: d.severity, rule: d.rule, message: d.message, ...(d.path ? { path: d.path } : {}), ...(d.hint ? { hint: d.hint } : {}) };
}

function check(config: BuiltinPolicyConfig, manifests: AnyManifest[], previous?: AnyManifest[]) {
  return evaluatePolicies(
    builtinPolicies({ ...OFF, ...config }), manifests.map((m) => target(m)),
    previous ? { previous: previous.map((m) => target(m)) } : {},
  ).map(brief);
}

/** Renders a CloneSet through the DSL, with a release plan when given. */
function renderedCloneSet(release?: Release, replicas = 10): PolicyTarget {
  const app = new App({ acceptCdk8sPlusDefaults: true });
  const chart = new Chart(app, 'shop', { namespace: 'shop' });
  new CloneSet(chart, 'web', {
    metadata: { name: 'web' }, replicas, ...(release ? { release } : {}),
    containers: [{ name: 'web', image: 'registry.example.com/web:1.2.3' }],
  });
  const { objects, diagnostics } = app.render();
  expect(diagnostics).toEqual([]);
  return objects.find((o) => o.manifest.kind === 'CloneSet')! as PolicyTarget;
}

function checkRendered(config: BuiltinPolicyConfig, t: PolicyTarget) {
  return evaluatePolicies(builtinPolicies({ ...OFF, ...config }), [t]).map(brief);
}

const PIN_HINT = 'pin a version tag (for example :1.4.2) or a digest (@sha256:...)';
const DIGEST = 'sha256:0000000000000000000000000000000000000000000000000000000000000000';

// ---- the pack ----------------------------------------------------------------------------------

describe('the built-in pack', () => {
  it('is on by default, except sidecar-registries, which needs registries', () => {
    expect(builtinPolicies().map((p) => [p.name, p.severity])).toEqual([
      ['images-pinned', 'error'], ['resources', 'error'], ['max-unavailable', 'error'], ['release-gated', 'error'],
      ['disruption-budget', 'error'], ['in-place-only-images', 'error'],
    ]);
    expect(builtinPolicies({ sidecarRegistries: { registries: ['registry.example.com'] } }).map((p) => p.name)).toContain('sidecar-registries');
  });

  it('passes a clean set of workloads with every rule on', () => {
    const policies = builtinPolicies({ sidecarRegistries: { registries: ['registry.example.com'] } });
    const manifests = [cloneSet(), advancedStatefulSet(), statefulSet(), deployment(), advancedDaemonSet(), sidecarSet([proxy('registry.example.com/mesh/envoy:1.29.0')])];
    expect(evaluatePolicies(policies, manifests.map((m) => target(m)), { previous: manifests.map((m) => target(m)) })).toEqual([]);
  });

  it('turns a rule off with false', () => {
    const bad = cloneSet((m) => { m.spec.template.spec.containers[0].image = 'nginx'; });
    expect(evaluatePolicies(builtinPolicies(), [target(bad)]).map((d) => d.rule)).toEqual(['policy/images-pinned']);
    expect(evaluatePolicies(builtinPolicies({ imagesPinned: false }), [target(bad)])).toEqual([]);
    expect(builtinPolicies({ imagesPinned: false, resources: false }).map((p) => p.name)).not.toContain('resources');
  });

  it('makes a rule a warning with severity: "warning"', () => {
    const bad = cloneSet((m) => { m.spec.template.spec.containers[0].image = 'nginx:latest'; });
    expect(check({ imagesPinned: { severity: 'warning' } }, [bad]).map((d) => d.severity)).toEqual(['warning']);
    expect(check({ imagesPinned: {} }, [bad]).map((d) => d.severity)).toEqual(['error']);
  });

  it('advisoryPolicies() has the default rules as warnings only, so they never block', () => {
    const policies = advisoryPolicies();
    expect(policies.map((p) => p.name)).toEqual(['images-pinned', 'resources', 'max-unavailable', 'release-gated', 'disruption-budget', 'in-place-only-images']);
    expect(policies.every((p) => p.severity === 'warning')).toBe(true);
    const bad = cloneSet((m) => {
      m.spec.replicas = 10;
      m.spec.updateStrategy = { maxUnavailable: '80%' };
      m.spec.template.spec.containers = [{ name: 'web', image: 'nginx' }];
    });
    const ds = evaluatePolicies(policies, [target(bad)]);
    expect(ds.map((d) => d.rule).sort()).toEqual(['policy/disruption-budget', 'policy/images-pinned', 'policy/max-unavailable', 'policy/resources']);
    expect(ds.every((d) => d.severity === 'warning')).toBe(true);
  });
});

// ---- images-pinned -----------------------------------------------------------------------------

describe('policy/images-pinned', () => {
  const withImage = (image: string) => cloneSet((m) => { m.spec.template.spec.containers[0].image = image; });

  it.each([
    'registry.example.com/web:1.2.3', 'web:v1.2', 'nginx:2.14.1-alpine', 'alpine:3.19.1-r1',
    `nginx@${DIGEST}`, `nginx:latest@${DIGEST}`, 'registry.example.com:5000/team/web:1.0.0',
  ])('passes %s', (image) => {
    expect(check({ imagesPinned: {} }, [withImage(image)])).toEqual([]);
  });

  it('fails an image without a tag', () => {
    expect(check({ imagesPinned: {} }, [withImage('nginx')])).toEqual([{
      severity: 'error', rule: 'policy/images-pinned', path: 'spec.template.spec.containers[0].image',
      message: 'container "web" uses image "nginx" without a tag, which means :latest', hint: PIN_HINT,
    }]);
  });

  it('reads a registry port as no tag', () => {
    expect(check({ imagesPinned: {} }, [withImage('registry.example.com:5000/web')])).toEqual([{
      severity: 'error', rule: 'policy/images-pinned', path: 'spec.template.spec.containers[0].image',
      message: 'container "web" uses image "registry.example.com:5000/web" without a tag, which means :latest', hint: PIN_HINT,
    }]);
  });

  it('fails :latest', () => {
    expect(check({ imagesPinned: {} }, [withImage('nginx:latest')])).toEqual([{
      severity: 'error', rule: 'policy/images-pinned', path: 'spec.template.spec.containers[0].image',
      message: 'container "web" uses "nginx:latest": :latest moves, so the same manifest can run different code', hint: PIN_HINT,
    }]);
  });

  it('fails a moving tag, naming the pattern it expected', () => {
    expect(check({ imagesPinned: {} }, [withImage('nginx:stable')])).toEqual([{
      severity: 'error', rule: 'policy/images-pinned', path: 'spec.template.spec.containers[0].image',
      message: `container "web" uses tag "stable", which does not look immutable (expected ${DEFAULT_TAG_PATTERN})`,
      hint: 'use a version tag or a digest, or set builtin.imagesPinned.tagPattern',
    }]);
  });

  it('checks init containers and SidecarSet containers by their own paths', () => {
    const withInit = cloneSet((m) => { m.spec.template.spec.initContainers = [container({ name: 'migrate', image: 'migrate:main' })]; });
    expect(check({ imagesPinned: {} }, [withInit, sidecarSet([proxy('envoy')])]).map((d) => [d.path, d.message])).toEqual([
      ['spec.template.spec.initContainers[0].image', 'container "migrate" uses tag "main", which does not look immutable (expected /^v?\\d+(\\.\\d+)+([-+._][0-9A-Za-z.-]+)?$/)'],
      ['spec.containers[0].image', 'container "proxy" uses image "envoy" without a tag, which means :latest'],
    ]);
  });

  it('takes tags matching tagPattern as immutable, and only those', () => {
    const config = { imagesPinned: { tagPattern: /^\d{8}-[0-9a-f]{7}$/ } };
    expect(check(config, [withImage('web:20240501-3f9c2ab')])).toEqual([]);
    expect(check(config, [withImage('web:1.2.3')])).toEqual([{
      severity: 'error', rule: 'policy/images-pinned', path: 'spec.template.spec.containers[0].image',
      message: 'container "web" uses tag "1.2.3", which does not look immutable (expected /^\\d{8}-[0-9a-f]{7}$/)',
      hint: 'use a version tag or a digest, or set builtin.imagesPinned.tagPattern',
    }]);
  });
});

describe('parseImage and registryOf', () => {
  it.each([
    ['nginx', { name: 'nginx' }],
    ['nginx:1.25', { name: 'nginx', tag: '1.25' }],
    ['registry.example.com:5000/team/web', { name: 'registry.example.com:5000/team/web' }],
    ['registry.example.com:5000/team/web:1.0', { name: 'registry.example.com:5000/team/web', tag: '1.0' }],
    [`nginx@${DIGEST}`, { name: 'nginx', digest: DIGEST }],
    [`localhost:5000/web:1.0@${DIGEST}`, { name: 'localhost:5000/web', tag: '1.0', digest: DIGEST }],
  ])('parseImage(%s)', (image, parsed) => {
    expect(parseImage(image)).toEqual(parsed);
  });

  it.each([
    ['nginx', 'docker.io'],
    ['library/nginx', 'docker.io'],
    ['acme/web', 'docker.io'],
    ['docker.io/library/nginx', 'docker.io'],
    ['ghcr.io/acme/web', 'ghcr.io'],
    ['registry.example.com:5000/web', 'registry.example.com:5000'],
    ['localhost/web', 'localhost'],
    ['localhost:5000/web', 'localhost:5000'],
  ])('registryOf(%s) is %s', (name, registry) => {
    expect(registryOf(name)).toBe(registry);
  });
});

// ---- resources ---------------------------------------------------------------------------------

describe('policy/resources', () => {
  const HINT = 'without requests the scheduler packs pods blindly, without a memory limit one pod can starve its node';

  it('passes containers with cpu and memory requests and a memory limit', () => {
    expect(check({ resources: {} }, [cloneSet(), sidecarSet([proxy('envoy:1.2')])])).toEqual([]);
  });

  it('fails a container without resources, listing everything missing', () => {
    const bad = cloneSet((m) => { delete m.spec.template.spec.containers[0].resources; });
    expect(check({ resources: {} }, [bad])).toEqual([{
      severity: 'error', rule: 'policy/resources', path: 'spec.template.spec.containers[0].resources',
      message: 'container "web" sets no requests.cpu, requests.memory, limits.memory', hint: HINT,
    }]);
  });

  it('fails a missing memory limit of an init container', () => {
    const bad = cloneSet((m) => { m.spec.template.spec.initContainers = [container({ name: 'migrate', resources: { requests: { cpu: '1', memory: '1Gi' } } })]; });
    expect(check({ resources: {} }, [bad])).toEqual([{
      severity: 'error', rule: 'policy/resources', path: 'spec.template.spec.initContainers[0].resources',
      message: 'container "migrate" sets no limits.memory', hint: HINT,
    }]);
  });

  it('asks for the requests and limits configured', () => {
    const cpuOnly = cloneSet((m) => { m.spec.template.spec.containers[0].resources = { requests: { cpu: '1' } }; });
    expect(check({ resources: { requests: ['cpu'], limits: [] } }, [cpuOnly])).toEqual([]);
    expect(check({ resources: { requests: ['cpu'], limits: ['cpu'], severity: 'warning' } }, [cpuOnly])).toEqual([{
      severity: 'warning', rule: 'policy/resources', path: 'spec.template.spec.containers[0].resources',
      message: 'container "web" sets no limits.cpu', hint: HINT,
    }]);
  });
});

// ---- max-unavailable ---------------------------------------------------------------------------

describe('policy/max-unavailable', () => {
  const HINT = 'lower it to "50%" or less; a bad version then takes down fewer pods before the release stops';
  const cs = (maxUnavailable: unknown, replicas = 10) => cloneSet((m) => { m.spec.replicas = replicas; m.spec.updateStrategy = { maxUnavailable }; });

  it('passes an unset maxUnavailable and values at or below 50%', () => {
    expect(check({ maxUnavailable: {} }, [cloneSet(), cs('50%'), cs('20%'), cs(5), cs('bogus')])).toEqual([]);
  });

  it('fails a percentage above 50%', () => {
    expect(check({ maxUnavailable: {} }, [cs('60%')])).toEqual([{
      severity: 'error', rule: 'policy/max-unavailable', path: 'spec.updateStrategy.maxUnavailable',
      message: 'maxUnavailable "60%" lets more pods go down at once than the allowed "50%" (of 10 replicas)', hint: HINT,
    }]);
  });

  it('compares a count with a percentage of the replicas', () => {
    expect(check({ maxUnavailable: {} }, [cs(6)])).toEqual([{
      severity: 'error', rule: 'policy/max-unavailable', path: 'spec.updateStrategy.maxUnavailable',
      message: 'maxUnavailable 6 lets more pods go down at once than the allowed "50%" (of 10 replicas)', hint: HINT,
    }]);
  });

  it('reads each kind at its own path', () => {
    const dep = deployment((m) => { m.spec.replicas = 4; m.spec.strategy = { rollingUpdate: { maxUnavailable: 3 } }; });
    const asts = advancedStatefulSet((m) => { m.spec.updateStrategy = { rollingUpdate: { maxUnavailable: '75%' } }; });
    const sc = sidecarSet([proxy('envoy:1.2')], (m) => { m.spec.updateStrategy = { maxUnavailable: '100%' }; });
    expect(check({ maxUnavailable: {} }, [dep, asts, sc]).map((d) => [d.path, d.message])).toEqual([
      ['spec.strategy.rollingUpdate.maxUnavailable', 'maxUnavailable 3 lets more pods go down at once than the allowed "50%" (of 4 replicas)'],
      ['spec.updateStrategy.rollingUpdate.maxUnavailable', 'maxUnavailable "75%" lets more pods go down at once than the allowed "50%" (of 3 replicas)'],
      ['spec.updateStrategy.maxUnavailable', 'maxUnavailable "100%" lets more pods go down at once than the allowed "50%"'],
    ]);
  });

  it('does not guess when a count meets a percentage of nodes only a cluster knows', () => {
    const ds = advancedDaemonSet((m) => { m.spec.updateStrategy = { rollingUpdate: { maxUnavailable: 8 } }; });
    expect(check({ maxUnavailable: {} }, [ds])).toEqual([]);
  });

  it('takes a count as max', () => {
    expect(check({ maxUnavailable: { max: 2 } }, [cs(2), cs('20%')])).toEqual([]);
    expect(check({ maxUnavailable: { max: 2 } }, [cs('30%')])).toEqual([{
      severity: 'error', rule: 'policy/max-unavailable', path: 'spec.updateStrategy.maxUnavailable',
      message: 'maxUnavailable "30%" lets more pods go down at once than the allowed 2 (of 10 replicas)',
      hint: 'lower it to 2 or less; a bad version then takes down fewer pods before the release stops',
    }]);
  });

  it('rejects a max that is not a count or a percentage', () => {
    expect(() => builtinPolicies({ maxUnavailable: { max: 'lots' as never } })).toThrow('builtin.maxUnavailable.max: "lots" is not a count or a percentage');
  });
});

// ---- release-gated -----------------------------------------------------------------------------

describe('policy/release-gated', () => {
  const PATH = 'metadata.annotations["kgitops.io/release-plan"]';
  const HINT = 'add a step at or below 50% with Gate.bake(...), Gate.metric(...), Gate.http(...) or Gate.approval()';
  const bake = () => Gate.bake(Duration.minutes(5));

  it('passes a plan that bakes a 10% canary before going to 100%', () => {
    const t = renderedCloneSet(Release.steps(Step.to('10%').gate(Gate.podsReady(), bake()), Step.to('100%').gate(Gate.podsReady())));
    expect(checkRendered({ releaseGated: {} }, t)).toEqual([]);
    expect(checkRendered({ releaseGated: {} }, renderedCloneSet(Release.canary('10%', '50%', '100%')))).toEqual([]);
  });

  it('passes a workload without a plan, unless requirePlan', () => {
    expect(checkRendered({ releaseGated: {} }, renderedCloneSet())).toEqual([]);
  });

  it('fails a plan that goes to 100% gated only by pods being ready', () => {
    const t = renderedCloneSet(Release.steps(Step.to('100%').gate(Gate.podsReady())));
    expect(checkRendered({ releaseGated: {} }, t)).toEqual([{
      severity: 'error', rule: 'policy/release-gated', path: PATH,
      message: 'step 1 (100%) updates 10 of 10 pods, but no earlier step at or below 50% has a bake, metric, http or approval gate', hint: HINT,
    }]);
  });

  it('fails a plan whose first verifying gate comes after more than half the pods', () => {
    const t = renderedCloneSet(Release.steps(Step.to('10%').gate(Gate.podsReady()), Step.to('60%').gate(bake()), Step.to('100%')));
    expect(checkRendered({ releaseGated: {} }, t)).toEqual([{
      severity: 'error', rule: 'policy/release-gated', path: PATH,
      message: 'step 2 (60%) updates 6 of 10 pods, but no earlier step at or below 50% has a bake, metric, http or approval gate', hint: HINT,
    }]);
  });

  it('counts `always` gates after each step: they verify nothing before the first step updates its pods', () => {
    const oneStep = renderedCloneSet(Release.steps(Step.to('100%').gate(Gate.podsReady())).always(Gate.approval()));
    expect(checkRendered({ releaseGated: {} }, oneStep)).toEqual([{
      severity: 'error', rule: 'policy/release-gated', path: PATH,
      message: 'step 1 (100%) updates 10 of 10 pods, but no earlier step at or below 50% has a bake, metric, http or approval gate', hint: HINT,
    }]);
    const canary = renderedCloneSet(Release.steps(Step.to('10%').gate(Gate.podsReady()), Step.to('100%').gate(Gate.podsReady())).always(Gate.approval()));
    expect(checkRendered({ releaseGated: {} }, canary)).toEqual([]);
  });

  it('counts pods with Kruise rounding: a 10% step of one pod updates that pod', () => {
    const asts = advancedStatefulSet((m) => {
      m.spec.replicas = 1;
      m.metadata.annotations = { 'kgitops.io/release-plan': JSON.stringify(Release.canary('10%', '100%')._toSpec()) };
    });
    expect(check({ releaseGated: {} }, [asts])).toEqual([{
      severity: 'error', rule: 'policy/release-gated', path: PATH,
      message: 'step 1 (10%) updates 1 of 1 pods, but no earlier step at or below 50% has a bake, metric, http or approval gate', hint: HINT,
    }]);
  });

  it('leaves a broken plan to the release rules', () => {
    const broken = cloneSet((m) => { m.metadata.annotations = { 'kgitops.io/release-plan': '{not json' }; });
    const invalid = cloneSet((m) => { m.metadata.annotations = { 'kgitops.io/release-plan': JSON.stringify({ version: 1, steps: [{ target: '50%', gates: [] }], onFailure: 'pause' }) }; });
    expect(check({ releaseGated: {} }, [broken, invalid])).toEqual([]);
  });

  it('takes `beyond` as the share of pods that may update unverified', () => {
    const t = renderedCloneSet(Release.canary('10%', '100%'));
    expect(checkRendered({ releaseGated: { beyond: '5%' } }, t)).toEqual([{
      severity: 'error', rule: 'policy/release-gated', path: PATH,
      message: 'step 1 (10%) updates 1 of 10 pods, but no earlier step at or below 5% has a bake, metric, http or approval gate',
      hint: 'add a step at or below 5% with Gate.bake(...), Gate.metric(...), Gate.http(...) or Gate.approval()',
    }]);
    expect(checkRendered({ releaseGated: { beyond: '10%' } }, t)).toEqual([]);
  });

  it('counts only the configured `gates` as verifying, and suggests those', () => {
    const metric = Gate.metric({ name: 'errors', prometheus: 'http://prometheus:9090', query: 'sum(rate(errors[1m]))', successCondition: 'result < 1' });
    expect(checkRendered({ releaseGated: { gates: ['metric'] } }, renderedCloneSet(Release.canary('10%', '100%')))).toEqual([{
      severity: 'error', rule: 'policy/release-gated', path: PATH,
      message: 'step 2 (100%) updates 10 of 10 pods, but no earlier step at or below 50% has a metric gate',
      hint: 'add a step at or below 50% with Gate.metric(...)',
    }]);
    const t = renderedCloneSet(Release.steps(Step.to('10%').gate(Gate.podsReady(), metric), Step.to('100%')));
    expect(checkRendered({ releaseGated: { gates: ['metric'] } }, t)).toEqual([]);
    expect(checkRendered({ releaseGated: { gates: ['approval', 'http'] } }, t)[0].hint).toBe('add a step at or below 50% with Gate.approval() or Gate.http(...)');
  });

  it('flags Kruise workloads without a plan when requirePlan', () => {
    expect(checkRendered({ releaseGated: { requirePlan: true } }, renderedCloneSet())).toEqual([{
      severity: 'error', rule: 'policy/release-gated', path: 'metadata',
      message: 'has no release plan: a new version reaches every pod at once, gated by nothing',
      hint: 'add `release: Release.canary(...)` (or Release.steps) to the construct',
    }]);
    expect(check({ releaseGated: { requirePlan: true } }, [sidecarSet([proxy('envoy:1.2')])]).map((d) => d.path)).toEqual(['metadata']);
    // Not release kinds: a Deployment, an apps/v1 StatefulSet.
    expect(check({ releaseGated: { requirePlan: true } }, [deployment(), statefulSet()])).toEqual([]);
    expect(checkRendered({ releaseGated: { requirePlan: true } }, renderedCloneSet(Release.canary('10%', '100%')))).toEqual([]);
  });
});

// ---- sidecar-registries ------------------------------------------------------------------------

describe('policy/sidecar-registries', () => {
  const config = { sidecarRegistries: { registries: ['registry.example.com', 'ghcr.io/acme/'] } };
  const HINT = 'a SidecarSet injects into every matching pod: mirror the image to an allowed registry';

  it.each(['registry.example.com/mesh/envoy:1.29.0', 'ghcr.io/acme/proxy:1.0.0', `ghcr.io/acme/team/proxy@${DIGEST}`])('passes %s', (image) => {
    expect(check(config, [sidecarSet([proxy(image)])])).toEqual([]);
  });

  it('fails an image from another registry, listing the allowed ones', () => {
    expect(check(config, [sidecarSet([proxy('ghcr.io/other/proxy:1.0.0')])])).toEqual([{
      severity: 'error', rule: 'policy/sidecar-registries', path: 'spec.containers[0].image',
      message: 'sidecar "proxy" image "ghcr.io/other/proxy:1.0.0" is not from an allowed registry (registry.example.com, ghcr.io/acme)', hint: HINT,
    }]);
  });

  it.each(['envoy:1.29', 'acme/envoy:1.29', 'registry.example.com.evil.io/envoy:1.29', 'ghcr.io/acmecorp/envoy:1.29'])('fails %s', (image) => {
    expect(check(config, [sidecarSet([proxy(image)])]).map((d) => d.message)).toEqual([
      `sidecar "proxy" image "${image}" is not from an allowed registry (registry.example.com, ghcr.io/acme)`,
    ]);
  });

  it('takes an entry with a path as a repository prefix or an exact repository', () => {
    const exact = { sidecarRegistries: { registries: ['ghcr.io/acme/proxy'] } };
    expect(check(exact, [sidecarSet([proxy('ghcr.io/acme/proxy:1.0.0')])])).toEqual([]);
    expect(check(exact, [sidecarSet([proxy('ghcr.io/acme/proxy-debug:1.0.0')])]).map((d) => d.message)).toEqual([
      'sidecar "proxy" image "ghcr.io/acme/proxy-debug:1.0.0" is not from an allowed registry (ghcr.io/acme/proxy)',
    ]);
  });

  it('checks init containers', () => {
    const sc = sidecarSet([proxy('registry.example.com/envoy:1.0')], (m) => { m.spec.initContainers = [container({ name: 'init', image: 'busybox:1.36' })]; });
    expect(check(config, [sc]).map((d) => d.path)).toEqual(['spec.initContainers[0].image']);
  });

  it('resolves Docker Hub names as Docker does, written out or not', () => {
    const hub = { sidecarRegistries: { registries: ['docker.io/library'] } };
    for (const image of ['nginx:1.25', 'library/nginx:1.25', 'docker.io/nginx:1.25', 'docker.io/library/nginx:1.25']) {
      expect(check(hub, [sidecarSet([proxy(image)])]), image).toEqual([]);
    }
    for (const image of ['acme/nginx:1.25', 'docker.io/acme/nginx:1.25', 'ghcr.io/library/nginx:1.25']) {
      expect(check(hub, [sidecarSet([proxy(image)])]).map((d) => d.message), image).toEqual([
        `sidecar "proxy" image "${image}" is not from an allowed registry (docker.io/library)`,
      ]);
    }
  });

  it('matches a registry with a port', () => {
    const local = { sidecarRegistries: { registries: ['localhost:5000'] } };
    expect(check(local, [sidecarSet([proxy('localhost:5000/envoy:1.0')])])).toEqual([]);
    expect(check(local, [sidecarSet([proxy('localhost:5001/envoy:1.0')])]).length).toBe(1);
  });

  it('looks at SidecarSets only', () => {
    expect(check(config, [cloneSet((m) => { m.spec.template.spec.containers[0].image = 'nginx:1.25'; })])).toEqual([]);
  });

  it('needs at least one registry', () => {
    expect(() => builtinPolicies({ sidecarRegistries: { registries: [] } }))
      .toThrow('builtin.sidecarRegistries.registries is empty: name at least one registry, or set sidecarRegistries: false');
  });
});

// ---- disruption-budget -------------------------------------------------------------------------

describe('policy/disruption-budget', () => {
  const HINT = 'add a PodUnavailableBudget (policy.kruise.io, targetRef to this workload) or a PodDisruptionBudget selecting its pod labels';
  const big = (replicas = 4) => cloneSet((m) => { m.spec.replicas = replicas; });
  const pub = (spec: Record<string, unknown>, namespace = 'shop'): AnyManifest => ({
    apiVersion: 'policy.kruise.io/v1alpha1', kind: 'PodUnavailableBudget', metadata: { name: 'web', namespace }, spec: { maxUnavailable: 1, ...spec },
  });
  const pdb = (selector: Record<string, unknown>): AnyManifest => ({
    apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web', namespace: 'shop' }, spec: { maxUnavailable: 1, selector },
  });
  const uncovered = (replicas: number) => ({
    severity: 'error', rule: 'policy/disruption-budget', path: 'spec.replicas',
    message: `has ${replicas} replicas and no PodUnavailableBudget or PodDisruptionBudget covers its pods`, hint: HINT,
  });

  it('passes workloads with at most 3 replicas', () => {
    expect(check({ disruptionBudget: {} }, [big(3), deployment(), advancedStatefulSet()])).toEqual([]);
  });

  it('fails a workload above 3 replicas without a budget', () => {
    expect(check({ disruptionBudget: {} }, [big(4)])).toEqual([uncovered(4)]);
  });

  it('passes with a PodUnavailableBudget targeting the workload', () => {
    const ref = { targetRef: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web' } };
    expect(check({ disruptionBudget: {} }, [big(), pub(ref)])).toEqual([]);
  });

  it('fails with a PodUnavailableBudget targeting another workload, group or namespace', () => {
    for (const budget of [
      pub({ targetRef: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'api' } }),
      pub({ targetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web' } }),
      pub({ targetRef: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web' } }, 'other'),
    ]) {
      expect(check({ disruptionBudget: {} }, [big(), budget])).toEqual([uncovered(4)]);
    }
    const asts = advancedStatefulSet((m) => { m.spec.replicas = 5; });
    expect(check({ disruptionBudget: {} }, [asts, pub({ targetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web' } })])).toEqual([uncovered(5)]);
    expect(check({ disruptionBudget: {} }, [asts, pub({ targetRef: { apiVersion: 'apps.kruise.io/v1beta1', kind: 'StatefulSet', name: 'web' } })])).toEqual([]);
  });

  it('passes with a budget selecting the pod labels', () => {
    expect(check({ disruptionBudget: {} }, [big(), pub({ selector: { matchLabels: { app: 'web' } } })])).toEqual([]);
    expect(check({ disruptionBudget: {} }, [big(), pdb({ matchLabels: { app: 'web' } })])).toEqual([]);
    expect(check({ disruptionBudget: {} }, [big(), pdb({ matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'api'] }] })])).toEqual([]);
  });

  it('fails with a budget selecting other pods, or nothing in particular', () => {
    expect(check({ disruptionBudget: {} }, [big(), pdb({ matchLabels: { app: 'api' } })])).toEqual([uncovered(4)]);
    expect(check({ disruptionBudget: {} }, [big(), pdb({})])).toEqual([uncovered(4)]);
    expect(check({ disruptionBudget: {} }, [big(), pdb({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] })])).toEqual([uncovered(4)]);
  });

  it('takes the replica threshold from `above`', () => {
    expect(check({ disruptionBudget: { above: 10 } }, [big(10)])).toEqual([]);
    expect(check({ disruptionBudget: { above: 10, severity: 'warning' } }, [big(11)])).toEqual([{ ...uncovered(11), severity: 'warning' }]);
  });

  it('does not ask DaemonSets and SidecarSets for one', () => {
    expect(check({ disruptionBudget: { above: 0 } }, [advancedDaemonSet(), sidecarSet([proxy('envoy:1.2')])])).toEqual([]);
  });
});

// ---- in-place-only-images ----------------------------------------------------------------------

describe('policy/in-place-only-images', () => {
  const HINT = 'ship the image change alone, or switch to InPlaceIfPossible for this release (it recreates pods when it must)';
  const SUFFIX = 'Kruise can only update container images in place (not init containers), and rejects the update';
  const inPlace = (mutate: (m: any) => void = () => {}) => cloneSet((m) => {
    m.spec.updateStrategy = { type: 'InPlaceOnly' };
    m.spec.template.spec.containers[0].env = [{ name: 'LOG', value: 'info' }];
    m.spec.template.spec.initContainers = [container({ name: 'migrate', image: 'registry.example.com/migrate:1.0.0' })];
    mutate(m);
  });
  const web = (m: any) => m.spec.template.spec.containers[0];

  it('passes an image change', () => {
    expect(check({ inPlaceOnlyImages: {} }, [inPlace((m) => { web(m).image = 'registry.example.com/web:1.2.4'; })], [inPlace()])).toEqual([]);
  });

  it('passes pod label and annotation changes, even removing them all', () => {
    const relabelled = inPlace((m) => { m.spec.template.metadata = { labels: { app: 'web', track: 'stable' }, annotations: { note: 'x' } }; });
    expect(check({ inPlaceOnlyImages: {} }, [relabelled], [inPlace()])).toEqual([]);
    expect(check({ inPlaceOnlyImages: {} }, [inPlace((m) => { delete m.spec.template.metadata; })], [inPlace()])).toEqual([]);
  });

  it('fails an env change', () => {
    const now = inPlace((m) => { web(m).image = 'registry.example.com/web:1.2.4'; web(m).env[0].value = 'debug'; });
    expect(check({ inPlaceOnlyImages: {} }, [now], [inPlace()])).toEqual([{
      severity: 'error', rule: 'policy/in-place-only-images', path: 'spec.template.spec.containers[name=web].env[name=LOG].value',
      message: `uses InPlaceOnly but changes spec.template.spec.containers[name=web].env[name=LOG].value: ${SUFFIX}`, hint: HINT,
    }]);
  });

  it('counts the changes and names the first', () => {
    const now = inPlace((m) => { web(m).env.push({ name: 'TRACE', value: '1' }); m.spec.template.spec.terminationGracePeriodSeconds = 60; });
    expect(check({ inPlaceOnlyImages: {} }, [now], [inPlace()])).toEqual([{
      severity: 'error', rule: 'policy/in-place-only-images', path: 'spec.template.spec.containers[name=web].env[name=TRACE]',
      message: `uses InPlaceOnly but changes 2 fields besides container images, first spec.template.spec.containers[name=web].env[name=TRACE]: ${SUFFIX}`, hint: HINT,
    }]);
  });

  it('fails an init container image change, which cannot happen in place', () => {
    const now = inPlace((m) => { m.spec.template.spec.initContainers[0].image = 'registry.example.com/migrate:1.1.0'; });
    expect(check({ inPlaceOnlyImages: {} }, [now], [inPlace()])).toEqual([{
      severity: 'error', rule: 'policy/in-place-only-images', path: 'spec.template.spec.initContainers[name=migrate].image',
      message: `uses InPlaceOnly but changes spec.template.spec.initContainers[name=migrate].image: ${SUFFIX}`, hint: HINT,
    }]);
  });

  it('checks Advanced StatefulSets with podUpdatePolicy InPlaceOnly, not apps/v1 ones', () => {
    const sts = (make: typeof statefulSet, memory: string) => make((m) => {
      m.spec.updateStrategy = { type: 'RollingUpdate', rollingUpdate: { podUpdatePolicy: 'InPlaceOnly' } };
      web(m).resources.limits.memory = memory;
    });
    expect(check({ inPlaceOnlyImages: {} }, [sts(advancedStatefulSet, '256Mi')], [sts(advancedStatefulSet, '128Mi')])).toEqual([{
      severity: 'error', rule: 'policy/in-place-only-images', path: 'spec.template.spec.containers[name=web].resources.limits.memory',
      message: `uses InPlaceOnly but changes spec.template.spec.containers[name=web].resources.limits.memory: ${SUFFIX}`, hint: HINT,
    }]);
    expect(check({ inPlaceOnlyImages: {} }, [sts(statefulSet, '256Mi')], [sts(statefulSet, '128Mi')])).toEqual([]);
  });

  it('passes other update types, new objects, and objects whose previous version is elsewhere', () => {
    const changed = (type: string) => inPlace((m) => { m.spec.updateStrategy.type = type; web(m).env[0].value = 'debug'; });
    expect(check({ inPlaceOnlyImages: {} }, [changed('InPlaceIfPossible')], [inPlace()])).toEqual([]);
    expect(check({ inPlaceOnlyImages: {} }, [changed('InPlaceOnly')])).toEqual([]);
    expect(check({ inPlaceOnlyImages: {} }, [changed('InPlaceOnly')], [inPlace((m) => { m.metadata.namespace = 'other'; })])).toEqual([]);
    expect(check({ inPlaceOnlyImages: false }, [changed('InPlaceOnly')], [inPlace()])).toEqual([]);
  });
});

// ---- evaluatePolicies --------------------------------------------------------------------------

describe('evaluatePolicies', () => {
  it('reports with the object, construct path and source, and the policy severity unless overridden', () => {
    const policy = definePolicy({
      name: 'team-label', severity: 'warning',
      check(o, ctx) {
        if (!o.manifest.metadata.labels?.team) ctx.report('has no team label', { path: 'metadata.labels.team', hint: 'add a team label' });
        ctx.report('always', { severity: 'error' });
      },
    });
    expect(evaluatePolicies([policy], [target(cloneSet(), 'shop.ts:12:3')])).toEqual([
      {
        severity: 'warning', rule: 'policy/team-label', message: 'has no team label', path: 'metadata.labels.team', hint: 'add a team label',
        object: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web', namespace: 'shop' }, constructPath: 'shop/web', source: 'shop.ts:12:3',
      },
      {
        severity: 'error', rule: 'policy/team-label', message: 'always',
        object: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web', namespace: 'shop' }, constructPath: 'shop/web', source: 'shop.ts:12:3',
      },
    ]);
  });

  it('turns a policy that throws into an error, whatever its severity (fail closed)', () => {
    const throws = definePolicy({ name: 'broken', severity: 'warning', check() { throw new Error('boom'); } });
    const throwsString = definePolicy({ name: 'broken-string', check() { throw 'not an error'; } });
    expect(evaluatePolicies([throws, throwsString], [target(cloneSet())])).toEqual([
      {
        severity: 'error', rule: 'policy/broken', message: 'the policy threw: boom',
        hint: 'fix the policy; until then the commit is not applied (a policy that cannot run checks nothing)',
        object: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web', namespace: 'shop' }, constructPath: 'shop/web',
      },
      expect.objectContaining({ severity: 'error', rule: 'policy/broken-string', message: 'the policy threw: not an error' }),
    ]);
  });

  it('keeps reporting what a policy found before it threw, and checks the other objects', () => {
    const policy = definePolicy({
      name: 'partial',
      check(o, ctx) {
        ctx.report(`saw ${o.manifest.kind}`);
        if (o.manifest.kind === 'CloneSet') throw new Error('cannot read');
      },
    });
    expect(evaluatePolicies([policy], [target(cloneSet()), target(deployment())]).map((d) => d.message)).toEqual(['saw CloneSet', 'the policy threw: cannot read', 'saw Deployment']);
  });

  it('checks only the objects of the kinds a policy names', () => {
    const seen: string[] = [];
    const policy = definePolicy({
      name: 'kinds', kinds: ['CloneSet', 'AdvancedStatefulSet'],
      check(o) { seen.push(`${o.manifest.apiVersion} ${o.manifest.kind}`); },
    });
    evaluatePolicies([policy], [cloneSet(), advancedStatefulSet(), statefulSet(), deployment(), sidecarSet([proxy('envoy:1.2')])].map((m) => target(m)));
    expect(seen).toEqual(['apps.kruise.io/v1alpha1 CloneSet', 'apps.kruise.io/v1beta1 StatefulSet']);
  });

  it('gives the previous version by group, kind, namespace and name (not by version)', () => {
    const seen: Record<string, string | undefined> = {};
    const policy = definePolicy({
      name: 'previous',
      check(o, ctx) { seen[`${o.manifest.apiVersion} ${o.manifest.kind} ${o.manifest.metadata.namespace}/${o.manifest.metadata.name}`] = ctx.previous?.constructPath; },
    });
    const now = [
      advancedStatefulSet(), statefulSet(), cloneSet(),
      cloneSet((m) => { m.metadata.name = 'api'; }), cloneSet((m) => { m.metadata.namespace = 'other'; }),
    ];
    const before = [
      { ...target(workload('apps.kruise.io/v1alpha1', 'StatefulSet')), constructPath: 'old/asts' },
      { ...target(cloneSet()), constructPath: 'old/cloneset' },
      { ...target(deployment((m) => { m.metadata.name = 'api'; })), constructPath: 'old/deployment' },
    ];
    evaluatePolicies([policy], now.map((m) => target(m)), { previous: before });
    expect(seen).toEqual({
      'apps.kruise.io/v1beta1 StatefulSet shop/web': 'old/asts',
      'apps/v1 StatefulSet shop/web': undefined,
      'apps.kruise.io/v1alpha1 CloneSet shop/web': 'old/cloneset',
      'apps.kruise.io/v1alpha1 CloneSet shop/api': undefined,
      'apps.kruise.io/v1alpha1 CloneSet other/web': undefined,
    });
  });

  it('gives every object and the objects of a kind name', () => {
    const budget: AnyManifest = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web', namespace: 'shop' }, spec: { selector: { matchLabels: { app: 'web' } } } };
    const policy = definePolicy({
      name: 'needs-pdb', kinds: ['CloneSet'],
      check(o, ctx) {
        const pdbs = ctx.objectsOf('PodDisruptionBudget').map((t) => t.manifest.metadata.name);
        const sets = ctx.objectsOf('AdvancedStatefulSet').map((t) => t.manifest.apiVersion);
        ctx.report(`${ctx.all.length} objects; budgets: ${pdbs.join(', ') || 'none'}; advanced statefulsets: ${sets.join(', ') || 'none'}`);
      },
    });
    const targets = [cloneSet(), statefulSet(), advancedStatefulSet(), budget].map((m) => target(m));
    expect(evaluatePolicies([policy], targets).map((d) => d.message)).toEqual(['4 objects; budgets: web; advanced statefulsets: apps.kruise.io/v1beta1']);
    expect(evaluatePolicies([policy], targets.slice(0, 3)).map((d) => d.message)).toEqual(['3 objects; budgets: none; advanced statefulsets: apps.kruise.io/v1beta1']);
  });
});

describe('definePolicy', () => {
  it('rejects bad names and unknown kinds', () => {
    expect(() => definePolicy({ name: 'Team_Label', check() {} })).toThrow('policy name "Team_Label" must be lower case letters, digits and dashes (for example "team-label")');
    expect(() => definePolicy({ name: 'x', kinds: ['Pod' as never], check() {} })).toThrow('policy "x": unknown kind "Pod"; use one of CloneSet, AdvancedStatefulSet,');
  });
});

// ---- assemble and policySet --------------------------------------------------------------------

describe('assemble', () => {
  const custom = (name: string) => definePolicy({ name, check() {} });

  it('collects policies, lists and sets after the built-in pack', () => {
    const { policies, problems } = assemble([
      { file: 'policies/a.ts', value: custom('team-label') },
      { file: 'policies/b.ts', value: [custom('owner'), custom('cost-center')] },
      { file: 'policies/c.ts', value: policySet({ builtin: { imagesPinned: false, disruptionBudget: { above: 5 } }, policies: [custom('tier')] }) },
      { file: 'policies/helpers.ts', value: undefined },
    ]);
    expect(problems).toEqual([]);
    expect(policies.map((p) => p.name)).toEqual([
      'resources', 'max-unavailable', 'release-gated', 'disruption-budget', 'in-place-only-images', 'team-label', 'owner', 'cost-center', 'tier',
    ]);
  });

  it('uses the default pack without a built-in configuration', () => {
    expect(assemble([]).policies.map((p) => p.name)).toEqual(builtinPolicies().map((p) => p.name));
  });

  it('reports duplicate policy names, keeping the first', () => {
    const { policies, problems } = assemble([
      { file: 'policies/a.ts', value: custom('team-label') },
      { file: 'policies/b.ts', value: [custom('team-label'), custom('resources')] },
    ]);
    expect(problems).toEqual([
      'policies/b.ts: a policy named "team-label" is already defined by policies/a.ts; names must be unique',
      'policies/b.ts: a policy named "resources" is already defined by the built-in pack; names must be unique',
    ]);
    expect(policies.filter((p) => p.name === 'team-label' || p.name === 'resources')).toHaveLength(2);
  });

  it('allows a built-in name once that rule is off', () => {
    const { policies, problems } = assemble([
      { file: 'policies/index.ts', value: policySet({ builtin: { resources: false }, policies: [custom('resources')] }) },
    ]);
    expect(problems).toEqual([]);
    expect(policies.filter((p) => p.name === 'resources')).toHaveLength(1);
  });

  it('reports built-in configuration in two files, and uses the first', () => {
    const { policies, problems } = assemble([
      { file: 'policies/a.ts', value: policySet({ builtin: { resources: false } }) },
      { file: 'policies/b.ts', value: policySet({ builtin: { imagesPinned: false } }) },
    ]);
    expect(problems).toEqual(['policies/b.ts: the built-in policies are configured in policies/a.ts already; configure them in one file']);
    expect(policies.map((p) => p.name)).toContain('images-pinned');
    expect(policies.map((p) => p.name)).not.toContain('resources');
  });

  it('reports a default export that is not a policy', () => {
    expect(assemble([
      { file: 'policies/a.ts', value: { name: 'team-label', check() {} } },
      { file: 'policies/b.ts', value: [custom('ok'), 'nope'] },
    ]).problems).toEqual([
      'policies/a.ts: the default export is not a policy: export definePolicy(...), a list of them, or policySet({...})',
      'policies/b.ts: the default export is not a policy: export definePolicy(...), a list of them, or policySet({...})',
    ]);
  });

  it('reports a built-in configuration that cannot be built, naming its file', () => {
    const { policies, problems } = assemble([
      { file: 'policies/index.ts', value: policySet({ builtin: { sidecarRegistries: { registries: [] } }, policies: [custom('team-label')] }) },
    ]);
    expect(problems).toEqual(['policies/index.ts: builtin.sidecarRegistries.registries is empty: name at least one registry, or set sidecarRegistries: false']);
    expect(policies.map((p) => p.name)).toEqual(['team-label']);
  });
});

describe('policySet', () => {
  it('holds the built-in configuration and policies', () => {
    const p = definePolicy({ name: 'team-label', check() {} });
    expect(policySet({})).toEqual({ __kgitopsPolicySet: 1, policies: [] });
    expect(policySet({ builtin: { resources: false }, policies: [p] })).toEqual({ __kgitopsPolicySet: 1, builtin: { resources: false }, policies: [p] });
  });

  it('rejects entries that do not come from definePolicy', () => {
    expect(() => policySet({ policies: [{ name: 'x', check() {} } as never] })).toThrow('policySet: every entry of `policies` must come from definePolicy(...)');
  });
});

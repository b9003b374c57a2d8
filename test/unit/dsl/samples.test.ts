/**
 * Kruise's own sample manifests: the placeholders (and the one with misspelled fields) are
 * rejected, the real ones accepted; and each valid workload sample is reproduced with the DSL
 * and compared structurally.
 */
import { readFileSync } from 'node:fs';
import { Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { Duration } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  AdvancedStatefulSet, App, BroadcastJob, CloneSet, CloneSetUpdateStrategy, CompletionPolicy, PodManagement, PodUpdatePolicy,
  StatefulSetUpdateStrategy, UnitedDeployment, UnitedDeploymentTemplate,
} from '../../../dsl/index.js';
import { validateObject } from '../../../engine/validate/index.js';

// Copied from ../shared by schemas/copy-sources.sh.
const SAMPLES = new URL('../../fixtures/kruise-samples/', import.meta.url);
const sample = (f: string) => parse(readFileSync(new URL(f, SAMPLES), 'utf8'));
const errorsOf = (f: string) => validateObject({ manifest: sample(f), chart: 'samples', constructPath: f }).filter((d) => d.severity === 'error');

describe('Kruise samples', () => {
  it.each([
    ['apps_v1alpha1_advancedcronjob.yaml', 'schema/unknown-field', 'spec.foo'],
    ['apps_v1alpha1_containerrecreaterequest.yaml', 'schema/unknown-field', 'spec.foo'],
    ['apps_v1alpha1_ephemeraljob.yaml', 'schema/unknown-field', 'spec.foo'],
    ['apps_v1beta1_statefulset.yaml', 'schema/unknown-field', 'spec.foo'],
    // UnitedDeployment v1beta1 exists only on Kruise's unreleased master.
    ['apps_v1beta1_uniteddeployment.yaml', 'schema/version-not-served', 'apiVersion'],
    // Misspelled resourcesPolicy fields (targetContainerMode, resourceExpr): the apiserver rejects it too.
    ['apps_v1alpha1_sidecarset.yaml', 'schema/unknown-field', 'spec.containers[1].resourcesPolicy.targetContainerMode'],
  ])('rejects %s', (file, rule, path) => {
    expect(errorsOf(file)).toContainEqual(expect.objectContaining({ rule, path }));
  });

  it('says which version to use when a version is not served', () => {
    expect(errorsOf('apps_v1beta1_uniteddeployment.yaml')[0]).toMatchObject({
      message: 'UnitedDeployment apps.kruise.io/v1beta1 is not served by OpenKruise v1.9.0', hint: 'use one of: apps.kruise.io/v1alpha1',
    });
  });

  it.each([
    'apps_v1alpha1_broadcastjob-active-deadline.yaml', 'apps_v1alpha1_broadcastjob-never-complete.yaml', 'apps_v1alpha1_broadcastjob-ttl.yaml',
    'apps_v1alpha1_cloneset.yaml', 'apps_v1alpha1_statefulset.yaml', 'apps_v1alpha1_uniteddeployment.yaml', 'apps_v1alpha1_workloadspread.yaml',
    'apps_v1beta1_broadcastjob-active-deadline.yaml', 'apps_v1beta1_broadcastjob-never-complete.yaml', 'apps_v1beta1_broadcastjob-ttl.yaml',
  ])('accepts %s', (file) => {
    expect(errorsOf(file)).toEqual([]);
  });
});

/**
 * Fields that cdk8s-plus adds by design (secure defaults, explicit pod-spec defaults, its own
 * selector label). Everything else in the DSL output must come from the sample.
 */
const KPLUS_DEFAULTS = [
  /^spec\.(template\.spec|template\.(statefulSet|cloneSet)Template\.spec\.template\.spec)\.(automountServiceAccountToken|dnsPolicy|hostNetwork|restartPolicy|securityContext|setHostnameAsFQDN|shareProcessNamespace|terminationGracePeriodSeconds)$/,
  /containers\[\d+\]\.(imagePullPolicy|resources)$/,
  /spec\.(containers\[\d+\]\.)?securityContext\.\w+$/,
  /labels\["cdk8s\.io\/metadata\.addr"\]$/,
  // The DSL writes the UnitedDeployment's selector into every subset template (the CRD requires
  // it for CloneSet and Advanced StatefulSet templates; the sample's StatefulSet template omits it).
  /^spec\.template\.\w+Template\.spec\.selector\.matchLabels\.\w+$/,
];

const child = (path: string, k: string) => (/^[A-Za-z_]\w*$/.test(k) ? `${path}${path ? '.' : ''}${k}` : `${path}[${JSON.stringify(k)}]`);

/** Paths of the leaves of a value (an empty object or array counts as a leaf). */
function leaves(v: any, path: string): string[] {
  if (v === null || typeof v !== 'object' || Object.keys(v).length === 0) return [path];
  return Array.isArray(v) ? v.flatMap((x, i) => leaves(x, `${path}[${i}]`)) : Object.keys(v).flatMap((k) => leaves(v[k], child(path, k)));
}

/** Every leaf of `want` is in `got` with the same value; returns the paths of extra leaves in `got`. */
function compareStructurally(want: any, got: any, path = ''): string[] {
  if (want === null || typeof want !== 'object') {
    expect(got, path).toEqual(want);
    return [];
  }
  if (Array.isArray(want)) {
    expect(Array.isArray(got), path).toBe(true);
    expect(got.length, path).toBe(want.length);
    return want.flatMap((w, i) => compareStructurally(w, got[i], `${path}[${i}]`));
  }
  expect(got, path).toBeTypeOf('object');
  const extra = Object.keys(got).filter((k) => !(k in want)).flatMap((k) => leaves(got[k], child(path, k)));
  return [...extra, ...Object.keys(want).flatMap((k) => compareStructurally(want[k], got[k], child(path, k)))];
}

function reproduce(build: (chart: Chart) => void): any {
  const app = new App({ acceptCdk8sPlusDefaults: true });
  build(new Chart(app, 'samples'));
  const { objects, diagnostics } = app.render();
  expect(diagnostics).toEqual([]);
  return objects[0].manifest;
}

function expectReproduced(file: string, got: any, ignore: string[] = []): void {
  const want = sample(file);
  // The DSL emits Advanced StatefulSets as v1beta1 (the sample uses v1alpha1: same fields).
  if (want.kind === 'StatefulSet') want.apiVersion = 'apps.kruise.io/v1beta1';
  for (const p of ignore) {
    const keys = p.split('.');
    const last = keys.pop()!;
    delete keys.reduce((o, k) => o[k], want)[last];
  }
  const extra = compareStructurally(want, got);
  const unexplained = extra.filter((p) => !KPLUS_DEFAULTS.some((re) => re.test(p)));
  expect(unexplained).toEqual([]);
}

const pinned = (image: string, name: string, extra: object = {}) => ({ name, image, securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: false }, resources: {}, imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT, ...extra }) as kplus.ContainerProps;

describe('Kruise workload samples reproduced with the DSL', () => {
  it('CloneSet', () => {
    const got = reproduce((c) => {
      const cs = new CloneSet(c, 'sample', {
        metadata: { name: 'sample', labels: { app: 'sample' } },
        replicas: 5,
        select: false,
        podMetadata: { labels: { app: 'sample' } },
        updateStrategy: CloneSetUpdateStrategy.inPlaceIfPossible({ maxUnavailable: 2 }),
        containers: [pinned('nginx:alpine', 'main')],
      });
      cs.select(kplus.LabelSelector.of({ labels: { app: 'sample' } }));
    });
    expectReproduced('apps_v1alpha1_cloneset.yaml', got);
  });

  it('Advanced StatefulSet', () => {
    const got = reproduce((c) => {
      const sts = new AdvancedStatefulSet(c, 'sample', {
        metadata: { name: 'sample' },
        replicas: 10,
        serviceName: 'fake-service',
        select: false,
        podMetadata: { labels: { app: 'sample' } },
        podManagement: PodManagement.parallel({ maxUnavailable: 2 }),
        updateStrategy: StatefulSetUpdateStrategy.rollingUpdate({ podUpdatePolicy: PodUpdatePolicy.IN_PLACE_IF_POSSIBLE }),
        containers: [pinned('nginx:alpine', 'main')],
      });
      sts.select(kplus.LabelSelector.of({ labels: { app: 'sample' } }));
    });
    expectReproduced('apps_v1alpha1_statefulset.yaml', got);
  });

  it.each([
    ['apps_v1alpha1_broadcastjob-active-deadline.yaml', 'broadcastjob-active-deadline', CompletionPolicy.always({ activeDeadline: Duration.seconds(200) }), pinned('busybox', 'sleep', { command: ['sleep', '50000'] })],
    ['apps_v1alpha1_broadcastjob-never-complete.yaml', 'broadcastjob-never-complete', CompletionPolicy.never(), pinned('busybox', 'sleep', { command: ['sleep', '5'] })],
    ['apps_v1alpha1_broadcastjob-ttl.yaml', 'broadcastjob-ttl', CompletionPolicy.always({ ttlAfterFinished: Duration.seconds(200) }), pinned('perl', 'pi', { command: ['perl', '-Mbignum=bpi', '-wle', 'print bpi(2000)'] })],
  ] as const)('BroadcastJob %s', (file, name, completionPolicy, container) => {
    // select: false, as a BroadcastJob has no selector: no cdk8s address label on its pods.
    const got = reproduce((c) => new BroadcastJob(c, name, { metadata: { name }, select: false, completionPolicy, containers: [container] }));
    expectReproduced(file, got);
  });

  it('UnitedDeployment', () => {
    const got = reproduce((c) => {
      const ud = new UnitedDeployment(c, 'sample', {
        metadata: { name: 'uniteddeployment-sample', labels: { 'controller-tools.k8s.io': '1.0' } },
        replicas: 6,
        revisionHistoryLimit: 10,
        select: false,
        podMetadata: { labels: { app: 'foo' } },
        template: UnitedDeploymentTemplate.statefulSet(),
        subsets: [
          { name: 'subset-a', replicas: 1, nodeSelector: [kplus.NodeLabelQuery.in('node', ['zone-a'])] },
          { name: 'subset-b', replicas: '50%', nodeSelector: [kplus.NodeLabelQuery.in('node', ['zone-b'])] },
          { name: 'subset-c', nodeSelector: [kplus.NodeLabelQuery.in('node', ['zone-c'])] },
        ],
        containers: [pinned('nginx', 'nginx')],
      });
      ud.select(kplus.LabelSelector.of({ labels: { app: 'foo' } }));
    });
    expectReproduced('apps_v1alpha1_uniteddeployment.yaml', got);
  });
});

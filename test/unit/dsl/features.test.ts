/**
 * The constructs for Kruise's kinds beyond the workloads: what a typical object renders, that it
 * passes the CRD schemas and Kruise's webhook rules, and one broken case per rule of those
 * webhooks (pkg/webhook/<kind>/validating in Kruise v1.9.0).
 */
import { Chart, Duration } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import {
  AdvancedCronJob, AdvancedDaemonSet, AdvancedStatefulSet, App, BroadcastJob, CronJobTemplate, PullCompletion, SidecarSet,
} from '../../../dsl/index.js';
import { checkRules } from '../../../dsl/rules.js';
import { validateObjects } from '../../../engine/validate/index.js';
import { FEATURE_RULE_CASES as cases, renderFeatures } from '../../fixtures/features.js';

const rendered = renderFeatures();
const byKind = (kind: string) => structuredClone(rendered.objects.find((o) => o.manifest.kind === kind)!.manifest) as any;

describe('typical objects', () => {
  it('render without errors or warnings, against the schemas and the rules', () => {
    expect(rendered.diagnostics).toEqual([]);
    expect(validateObjects(rendered.objects)).toEqual([]);
    expect(rendered.objects.map((o) => `${o.manifest.apiVersion} ${o.manifest.kind}`).sort()).toEqual([
      'apps.kruise.io/v1alpha1 CloneSet', 'apps.kruise.io/v1alpha1 ContainerRecreateRequest', 'apps.kruise.io/v1alpha1 EphemeralJob',
      'apps.kruise.io/v1alpha1 ImagePullJob', 'apps.kruise.io/v1alpha1 PersistentPodState', 'apps.kruise.io/v1alpha1 PodProbeMarker',
      'apps.kruise.io/v1alpha1 ResourceDistribution', 'apps.kruise.io/v1alpha1 WorkloadSpread', 'apps.kruise.io/v1beta1 ImageListPullJob',
      'apps.kruise.io/v1beta1 StatefulSet', 'policy.kruise.io/v1alpha1 PodUnavailableBudget',
    ]);
  });

  it('spreadAcross() and budget() target the workload, with its name and namespace', () => {
    expect(byKind('WorkloadSpread')).toEqual({
      apiVersion: 'apps.kruise.io/v1alpha1', kind: 'WorkloadSpread', metadata: { name: 'web', namespace: 'team' },
      spec: {
        targetRef: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web' },
        subsets: [
          { name: 'on-demand', requiredNodeSelectorTerm: { matchExpressions: [{ key: 'node.example.com/capacity', operator: 'In', values: ['on-demand'] }] }, maxReplicas: 2 },
          { name: 'spot', requiredNodeSelectorTerm: { matchExpressions: [{ key: 'node.example.com/capacity', operator: 'In', values: ['spot'] }] },
            tolerations: [{ key: 'spot', operator: 'Exists', effect: 'NoSchedule' }], patch: { metadata: { labels: { capacity: 'spot' } } } },
        ],
        scheduleStrategy: { type: 'Adaptive', adaptive: { rescheduleCriticalSeconds: 30 } },
      },
    });
    expect(byKind('PodUnavailableBudget')).toEqual({
      apiVersion: 'policy.kruise.io/v1alpha1', kind: 'PodUnavailableBudget',
      metadata: { name: 'web', namespace: 'team', annotations: { 'kruise.io/pub-protect-operations': 'DELETE,EVICT,UPDATE' } },
      spec: { targetRef: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web' }, maxUnavailable: 1 },
    });
  });

  it('renders durations as seconds and fills in what Kruise does not default', () => {
    expect(byKind('ImagePullJob').spec).toEqual({
      image: 'registry.example.com/shop/web:1.5.0', podSelector: { matchLabels: { app: 'web' } }, parallelism: 3,
      pullPolicy: { timeoutSeconds: 300 }, completionPolicy: { type: 'Always', activeDeadlineSeconds: 1800, ttlSecondsAfterFinished: 3600 },
    });
    expect(byKind('ImageListPullJob').spec.completionPolicy).toEqual({ type: 'Never' });
    const probes = byKind('PodProbeMarker').spec.probes;
    expect(probes[0].markerPolicy).toEqual([
      { state: 'Succeeded', labels: { 'db.example.com/role': 'primary' } }, { state: 'Failed', labels: { 'db.example.com/role': 'replica' } },
    ]);
    expect(probes[1].probe).toEqual({ httpGet: { path: '/warm', port: 8080, scheme: 'HTTP' } });
    expect(byKind('EphemeralJob').spec.template.ephemeralContainers[0]).toEqual({
      name: 'debugger', image: 'registry.example.com/tools/debug:1.0', command: ['sleep', '3600'], targetContainerName: 'main',
      imagePullPolicy: 'IfNotPresent', terminationMessagePolicy: 'File', stdin: true, tty: true,
    });
    expect(byKind('ContainerRecreateRequest').spec).toEqual({
      podName: 'web-0', containers: [{ name: 'main' }], strategy: { orderedRecreate: true, unreadyGracePeriodSeconds: 10 },
      activeDeadlineSeconds: 300, ttlSecondsAfterFinished: 600,
    });
    expect(byKind('ResourceDistribution')).toMatchObject({
      metadata: { name: 'registry-config' },
      spec: {
        resource: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'registry-config' } },
        targets: { includedNamespaces: { list: [{ name: 'team-a' }, { name: 'team-b' }] }, namespaceLabelSelector: { matchLabels: { 'example.com/registry': 'mirror' } } },
      },
    });
    expect(byKind('ResourceDistribution').metadata.namespace).toBeUndefined();
    expect(byKind('PersistentPodState').spec).toEqual({
      targetRef: { apiVersion: 'apps.kruise.io/v1beta1', kind: 'StatefulSet', name: 'db' },
      requiredPersistentTopology: { nodeTopologyKeys: ['kubernetes.io/hostname'] },
      preferredPersistentTopology: [{ weight: 100, preference: { nodeTopologyKeys: ['topology.kubernetes.io/zone'] } }],
      persistentPodAnnotations: [{ key: 'example.com/ip' }], persistentPodStateRetentionPolicy: 'WhenDeleted',
    });
  });
});

describe('Kruise webhook rules of the kinds beyond the workloads', () => {
  it.each(cases)('$kind: $name', (c) => {
    const m = byKind(c.kind);
    expect(checkRules(m)).toEqual([]);
    c.mutate(m);
    const found = checkRules(m);
    expect(found).toContainEqual(expect.objectContaining({ rule: c.rule, path: c.path, severity: c.severity ?? 'error', message: expect.stringMatching(c.message) }));
  });

  it('warns that NodeImage and NodePodProbe are Kruise\'s own', () => {
    for (const kind of ['NodeImage', 'NodePodProbe']) {
      expect(checkRules({ apiVersion: 'apps.kruise.io/v1alpha1', kind, metadata: { name: 'node-1' }, spec: {} })).toEqual([
        expect.objectContaining({ severity: 'warning', rule: 'kruise/managed-kind' }),
      ]);
    }
  });
});

describe('the workloads\' new fields and versions', () => {
  const one = (build: (chart: Chart) => void) => {
    const app = new App({ acceptCdk8sPlusDefaults: true });
    build(new Chart(app, 't', { namespace: 'team' }));
    const r = app.render();
    expect([...r.diagnostics, ...validateObjects(r.objects)]).toEqual([]);
    return r.objects.map((o) => o.manifest as any);
  };
  const main = { name: 'main', image: 'registry.example.com/app:1.0.0' };

  it('writes v1beta1 where Kruise 1.9 serves it and it is asked for; the defaults stay', () => {
    const versions = one((c) => {
      new AdvancedDaemonSet(c, 'ds', { metadata: { name: 'ds' }, containers: [main], apiVersion: 'apps.kruise.io/v1beta1' });
      new BroadcastJob(c, 'bj', { metadata: { name: 'bj' }, containers: [main], apiVersion: 'apps.kruise.io/v1beta1' });
      new SidecarSet(c, 'ss', { metadata: { name: 'ss' }, selector: { matchLabels: { app: 'web' } }, containers: [{ ...main, name: 'side' }], apiVersion: 'apps.kruise.io/v1beta1' });
      new AdvancedStatefulSet(c, 'sts', { metadata: { name: 'sts' }, containers: [main], apiVersion: 'apps.kruise.io/v1alpha1' });
      new AdvancedDaemonSet(c, 'ds0', { metadata: { name: 'ds0' }, containers: [main] });
      new AdvancedStatefulSet(c, 'sts0', { metadata: { name: 'sts0' }, containers: [main] });
    }).map((m) => `${m.kind} ${m.metadata.name} ${m.apiVersion}`);
    expect(versions).toEqual(expect.arrayContaining([
      'DaemonSet ds apps.kruise.io/v1beta1', 'BroadcastJob bj apps.kruise.io/v1beta1', 'SidecarSet ss apps.kruise.io/v1beta1',
      'StatefulSet sts apps.kruise.io/v1alpha1', 'DaemonSet ds0 apps.kruise.io/v1alpha1', 'StatefulSet sts0 apps.kruise.io/v1beta1',
    ]));
  });

  it('renders SidecarSet\'s shareVolumeDevicePolicy, transferEnv from a pod label, and resourcesPolicy', () => {
    const [ss] = one((c) => new SidecarSet(c, 'ss', {
      metadata: { name: 'log-shipper' }, selector: { matchLabels: { logging: 'on' } },
      containers: [{
        name: 'shipper', image: 'registry.example.com/shipper:2.0', shareVolumeDevices: true,
        transferEnv: [{ sourceContainerNameFrom: "metadata.labels['example.com/main-container']", envNames: ['APP_NAME', 'APP_ENV'] }, { sourceContainerName: 'main', envName: 'TZ' }],
        resourcesPolicy: { mode: 'sum', requests: { cpu: 'max(cpu*10%, 50m)', memory: '64Mi' }, limits: { memory: 'memory*25%' } },
      }],
    }));
    expect(ss.spec.containers[0]).toMatchObject({
      shareVolumeDevicePolicy: { type: 'enabled' },
      transferEnv: [
        { sourceContainerNameFrom: { fieldRef: { fieldPath: "metadata.labels['example.com/main-container']" } }, envNames: ['APP_NAME', 'APP_ENV'] },
        { sourceContainerName: 'main', envName: 'TZ' },
      ],
      resourcesPolicy: { targetContainersMode: 'sum', resourcesExpr: { requests: { cpu: 'max(cpu*10%, 50m)', memory: '64Mi' }, limits: { memory: 'memory*25%' } } },
    });
    expect(ss.spec.containers[0].resources).toBeUndefined();
  });

  it('schedules an ImageListPullJob with an AdvancedCronJob, which then is v1beta1', () => {
    const [acj] = one((c) => new AdvancedCronJob(c, 'nightly-pull', {
      metadata: { name: 'nightly-pull' }, schedule: '0 2 * * *',
      template: CronJobTemplate.imageListPullJob({ images: ['registry.example.com/shop/web:1.5.0'], parallelism: 5, completion: PullCompletion.always({ ttlAfterFinished: Duration.hours(1) }) }),
    }));
    expect(acj.apiVersion).toBe('apps.kruise.io/v1beta1');
    expect(acj.spec.template).toEqual({
      imageListPullJobTemplate: { spec: { images: ['registry.example.com/shop/web:1.5.0'], parallelism: 5, completionPolicy: { type: 'Always', ttlSecondsAfterFinished: 3600 } } },
    });
    const app = new App();
    expect(() => new AdvancedCronJob(new Chart(app, 'x'), 'p', {
      schedule: '@daily', apiVersion: 'apps.kruise.io/v1alpha1', template: CronJobTemplate.imageListPullJob({ images: ['a/b:1'] }),
    })).toThrow('x/p: an imageListPullJob template needs apiVersion apps.kruise.io/v1beta1 (leave apiVersion unset)');
  });

  it('checks the ImageListPullJob inside a cron job with the same rules', () => {
    const m = { apiVersion: 'apps.kruise.io/v1beta1', kind: 'AdvancedCronJob', metadata: { name: 'p' },
      spec: { schedule: '@daily', template: { imageListPullJobTemplate: { spec: { images: ['a/b:1', 'a/b:1'], completionPolicy: { type: 'Always' } } } } } };
    expect(checkRules(m)).toEqual([expect.objectContaining({ rule: 'ilpj/images', path: 'spec.template.imageListPullJobTemplate.spec.images[1]', message: '"a/b:1" is listed twice' })]);
  });

  it('rejects a resourcesPolicy that computes nothing', () => {
    const m = { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'SidecarSet', metadata: { name: 's' },
      spec: { selector: { matchLabels: { a: 'b' } }, containers: [{ name: 's', image: 'a/b:1', resourcesPolicy: { targetContainersMode: 'max', resourcesExpr: {} } }] } };
    expect(checkRules(m)).toEqual([expect.objectContaining({ rule: 'sidecarset/resources-policy', path: 'spec.containers[0].resourcesPolicy.resourcesExpr' })]);
  });
});

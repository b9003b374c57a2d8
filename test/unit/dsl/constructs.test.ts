/**
 * The L2 constructs render every option they accept (the generated L1 classes silently drop
 * values that are not wrapped the way they expect, so every option is asserted here), and their
 * errors name the construct path and the line that declared it.
 */
import { Chart, Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { describe, expect, it } from 'vitest';
import {
  AdvancedCronJob, AdvancedDaemonSet, AdvancedStatefulSet, App, BroadcastJob, CloneSet, CloneSetUpdateStrategy,
  CompletionPolicy, ConcurrencyPolicy, CronJobTemplate, DaemonSetUpdateStrategy, DiagnosticError, FailurePolicy,
  PodManagement, PodUpdatePolicy, SidecarInjectPolicy, SidecarSet, SidecarSetUpdateStrategy, SidecarUpgrade,
  StatefulSetUpdateStrategy, UnitedDeployment, UnitedDeploymentTemplate, UpdatePriority,
} from '../../../dsl/index.js';
import { validateObjects } from '../../../engine/validate/index.js';

function render(build: (chart: Chart) => void) {
  const app = new App({ acceptCdk8sPlusDefaults: true });
  build(new Chart(app, 'test', { namespace: 'team' }));
  const result = app.render();
  return { ...result, byKind: (kind: string) => result.objects.find((o) => o.manifest.kind === kind)!.manifest };
}

const container = { name: 'main', image: 'registry.example.com/app:1.0.0', portNumber: 8080 };

describe('CloneSet', () => {
  it('renders every option', () => {
    const r = render((c) => {
      const cs = new CloneSet(c, 'web', {
        metadata: { name: 'web' },
        replicas: 5,
        containers: [container],
        updateStrategy: CloneSetUpdateStrategy.inPlaceIfPossible({
          partition: '40%', maxSurge: 1, maxUnavailable: '10%', paused: true, gracePeriod: Duration.seconds(15),
          priority: UpdatePriority.weight({ weight: 80, selector: kplus.LabelSelector.of({ labels: { tier: 'canary' } }) }),
          scatter: [{ key: 'zone', value: 'a' }],
        }),
        scaleStrategy: { podsToDelete: ['web-abc'], maxUnavailable: 2, disablePvcReuse: true },
        lifecycle: { preDelete: { labelsHandler: { drained: 'true' }, markPodNotReady: true }, inPlaceUpdate: { finalizersHandler: ['example.com/hold'] } },
        minReady: Duration.seconds(10),
        progressDeadline: Duration.minutes(5),
        revisionHistoryLimit: 4,
      });
      const data = cs.addVolumeClaimTemplate({ name: 'cache', storage: Size.gibibytes(5), storageClassName: 'fast' });
      cs.containers[0].mount('/cache', data);
    });
    const spec = r.byKind('CloneSet').spec;
    expect(spec.replicas).toBe(5);
    expect(spec.updateStrategy).toEqual({
      type: 'InPlaceIfPossible', partition: '40%', maxSurge: 1, maxUnavailable: '10%', paused: true,
      inPlaceUpdateStrategy: { gracePeriodSeconds: 15 },
      priorityStrategy: { weightPriority: [{ weight: 80, matchSelector: { matchLabels: { tier: 'canary' } } }] },
      scatterStrategy: [{ key: 'zone', value: 'a' }],
    });
    expect(spec.scaleStrategy).toEqual({ podsToDelete: ['web-abc'], maxUnavailable: 2, disablePVCReuse: true });
    expect(spec.lifecycle).toEqual({
      preDelete: { labelsHandler: { drained: 'true' }, markPodNotReady: true },
      inPlaceUpdate: { finalizersHandler: ['example.com/hold'] },
    });
    expect(spec).toMatchObject({ minReadySeconds: 10, progressDeadlineSeconds: 300, revisionHistoryLimit: 4 });
    expect(spec.volumeClaimTemplates).toEqual([{
      metadata: { name: 'cache' },
      spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'fast', resources: { requests: { storage: '5Gi' } } },
    }]);
    // The controller attaches the claim; the template only mounts it.
    expect(spec.template.spec.volumes).toBeUndefined();
    expect(spec.template.spec.containers[0].volumeMounts).toEqual([{ mountPath: '/cache', name: 'cache' }]);
    // cdk8s-plus pod spec converted to plain Kubernetes JSON (Quantity objects, renamed fields).
    expect(spec.template.spec.containers[0].resources.limits.cpu).toBe('1500m');
    expect(spec.template.spec.setHostnameAsFQDN).toBe(false);
    expect(spec.selector.matchLabels).toEqual(spec.template.metadata.labels);
    expect([...r.diagnostics, ...validateObjects(r.objects)]).toEqual([]);
  });

  it('exposes its pods through a Service like a cdk8s-plus Deployment', () => {
    const r = render((c) => {
      new CloneSet(c, 'web', { containers: [container] }).exposeViaService({ name: 'web', ports: [{ port: 80, targetPort: 8080 }] });
    });
    const svc = r.byKind('Service');
    expect(svc.spec.ports).toEqual([{ port: 80, targetPort: 8080 }]);
    expect(svc.spec.selector).toEqual(r.byKind('CloneSet').spec.selector.matchLabels);
  });

  it('names the construct path and the declaring line in a rule error', () => {
    const app = new App({ acceptCdk8sPlusDefaults: true });
    const chart = new Chart(app, 'shop');
    new CloneSet(chart, 'storefront', {
      containers: [container],
      // A JavaScript caller (or a cast) can get around the types; the rule still catches it.
      updateStrategy: CloneSetUpdateStrategy.inPlaceOnly({ maxSurge: 2 } as never),
    });
    const { diagnostics } = app.render();
    expect(diagnostics).toEqual([expect.objectContaining({
      rule: 'cloneset/in-place-only-max-surge',
      constructPath: 'shop/storefront',
      path: 'spec.updateStrategy.maxSurge',
      message: 'maxSurge must be 0 with update type InPlaceOnly, got 2',
      source: expect.stringMatching(/^test\/unit\/dsl\/constructs\.test\.ts:\d+:\d+$/),
    })]);
    expect(() => app.synth()).toThrow(DiagnosticError);
    expect(() => app.synth()).toThrow(/construct shop\/storefront/);
  });
});

describe('AdvancedStatefulSet', () => {
  it('renders parallel management, in-place updates and ordinals, and adds the InPlaceUpdateReady gate', () => {
    const r = render((c) => {
      new AdvancedStatefulSet(c, 'zk', {
        metadata: { name: 'zk' },
        replicas: 5,
        serviceName: 'zk',
        containers: [container],
        podManagement: PodManagement.parallel({ maxUnavailable: 2, updatePriority: UpdatePriority.order('role-order'), scaleMaxUnavailable: '50%' }),
        updateStrategy: StatefulSetUpdateStrategy.rollingUpdate({
          partition: 3, podUpdatePolicy: PodUpdatePolicy.IN_PLACE_IF_POSSIBLE, paused: false, minReady: Duration.seconds(20), inPlaceGracePeriod: Duration.seconds(5),
        }),
        reserveOrdinals: [1, '3-4'],
        startOrdinal: 10,
        volumeClaimRetention: { whenScaled: 'Delete' },
        lifecycle: { preNormal: { labelsHandler: { ready: 'yes' } } },
      });
    });
    const m = r.byKind('StatefulSet');
    expect(m.apiVersion).toBe('apps.kruise.io/v1beta1');
    expect(m.spec).toMatchObject({
      replicas: 5, serviceName: 'zk', podManagementPolicy: 'Parallel',
      reserveOrdinals: [1, '3-4'], ordinals: { start: 10 },
      scaleStrategy: { maxUnavailable: '50%' },
      persistentVolumeClaimRetentionPolicy: { whenScaled: 'Delete' },
      lifecycle: { preNormal: { labelsHandler: { ready: 'yes' } } },
      updateStrategy: {
        type: 'RollingUpdate',
        rollingUpdate: {
          partition: 3, podUpdatePolicy: 'InPlaceIfPossible', paused: false, minReadySeconds: 20, maxUnavailable: 2,
          unorderedUpdate: { priorityStrategy: { orderPriority: [{ orderedKey: 'role-order' }] } },
          inPlaceUpdateStrategy: { gracePeriodSeconds: 5 },
        },
      },
    });
    expect(m.spec.template.spec.readinessGates).toEqual([{ conditionType: 'InPlaceUpdateReady' }]);
    expect([...r.diagnostics, ...validateObjects(r.objects)]).toEqual([]);
  });

  it('renders OnDelete without a rollingUpdate block', () => {
    const r = render((c) => new AdvancedStatefulSet(c, 'db', { containers: [container], updateStrategy: StatefulSetUpdateStrategy.onDelete() }));
    expect(r.byKind('StatefulSet').spec.updateStrategy).toEqual({ type: 'OnDelete' });
    expect(r.diagnostics).toEqual([]);
  });
});

describe('AdvancedDaemonSet', () => {
  it('renders in-place updates with a partition and a node selector', () => {
    const r = render((c) => new AdvancedDaemonSet(c, 'agent', {
      containers: [container],
      updateStrategy: DaemonSetUpdateStrategy.inPlaceIfPossible({ maxUnavailable: '10%', partition: '50%', paused: true, nodeSelector: { matchLabels: { pool: 'canary' } } }),
      burstReplicas: 50, minReady: Duration.seconds(3), revisionHistoryLimit: 2,
      lifecycle: { preDelete: { finalizersHandler: ['x/y'] } },
    }));
    expect(r.byKind('DaemonSet').spec).toMatchObject({
      burstReplicas: 50, minReadySeconds: 3, revisionHistoryLimit: 2, lifecycle: { preDelete: { finalizersHandler: ['x/y'] } },
      updateStrategy: {
        type: 'RollingUpdate',
        rollingUpdate: { rollingUpdateType: 'InPlaceIfPossible', maxUnavailable: '10%', partition: '50%', paused: true, selector: { matchLabels: { pool: 'canary' } } },
      },
    });
    expect([...r.diagnostics, ...validateObjects(r.objects)]).toEqual([]);
  });

  it('surges with the standard strategy', () => {
    const r = render((c) => new AdvancedDaemonSet(c, 'agent', { containers: [container], updateStrategy: DaemonSetUpdateStrategy.rollingUpdate({ maxSurge: 1, maxUnavailable: 0 }) }));
    expect(r.byKind('DaemonSet').spec.updateStrategy.rollingUpdate).toEqual({ rollingUpdateType: 'Standard', maxSurge: 1, maxUnavailable: 0 });
    expect(r.diagnostics).toEqual([]);
  });
});

describe('SidecarSet', () => {
  it('renders sidecar containers with the core container fields the generated class would drop', () => {
    const r = render((c) => {
      const logs = kplus.Volume.fromEmptyDir(c, 'logs', 'logs');
      new SidecarSet(c, 'logging', {
        metadata: { name: 'logging' },
        selector: { matchLabels: { logging: 'on' } },
        namespaceSelector: { matchLabels: { team: 'shop' } },
        containers: [{
          name: 'shipper', image: 'registry.example.com/shipper:1', podInjectPolicy: SidecarInjectPolicy.AFTER_APP_CONTAINER,
          upgrade: SidecarUpgrade.hot('registry.example.com/empty:1'), shareVolumes: false,
          transferEnv: [{ sourceContainerName: 'main', envNames: ['A', 'B'] }],
          volumeMounts: [{ path: '/logs', volume: logs }],
        }],
        initContainers: [{ name: 'setup', image: 'registry.example.com/setup:1' }],
        updateStrategy: SidecarSetUpdateStrategy.rollingUpdate({ partition: '25%', maxUnavailable: 3, paused: true, scatter: [{ key: 'app', value: '*' }] }),
        injectionPaused: true,
        imagePullSecrets: ['regcred'],
        revisionHistoryLimit: 3,
      });
    });
    const m = r.byKind('SidecarSet');
    expect(m.metadata.namespace).toBeUndefined();
    expect(m.spec.containers[0]).toMatchObject({
      name: 'shipper', image: 'registry.example.com/shipper:1', podInjectPolicy: 'AfterAppContainer',
      upgradeStrategy: { upgradeType: 'HotUpgrade', hotUpgradeEmptyImage: 'registry.example.com/empty:1' },
      shareVolumePolicy: { type: 'disabled' }, transferEnv: [{ sourceContainerName: 'main', envNames: ['A', 'B'] }],
      volumeMounts: [{ mountPath: '/logs', name: 'logs' }],
    });
    expect(m.spec.initContainers[0]).toMatchObject({ name: 'setup', image: 'registry.example.com/setup:1' });
    expect(m.spec).toMatchObject({
      selector: { matchLabels: { logging: 'on' } }, namespaceSelector: { matchLabels: { team: 'shop' } },
      volumes: [{ name: 'logs', emptyDir: {} }],
      updateStrategy: { type: 'RollingUpdate', partition: '25%', maxUnavailable: 3, paused: true, scatterStrategy: [{ key: 'app', value: '*' }] },
      injectionStrategy: { paused: true }, imagePullSecrets: [{ name: 'regcred' }], revisionHistoryLimit: 3,
    });
    expect([...r.diagnostics, ...validateObjects(r.objects)]).toEqual([]);
  });

  it('rejects an update selector with a partition at synth time, naming the construct', () => {
    const r = render((c) => new SidecarSet(c, 'logging', {
      selector: { matchLabels: { logging: 'on' } },
      containers: [{ name: 'shipper', image: 'registry.example.com/shipper:1' }],
      updateStrategy: SidecarSetUpdateStrategy.rollingUpdate({ selector: { matchLabels: { canary: 'yes' } }, partition: 2 } as never),
    }));
    expect(r.diagnostics).toEqual([expect.objectContaining({
      rule: 'sidecarset/selector-and-partition', constructPath: 'test/logging', path: 'spec.updateStrategy',
      message: 'an update selector cannot be combined with a partition (got partition 2)',
    })]);
  });
});

describe('UnitedDeployment', () => {
  it('renders subsets, per-subset partitions and a CloneSet template', () => {
    const r = render((c) => {
      const ud = new UnitedDeployment(c, 'cart', {
        containers: [container],
        template: UnitedDeploymentTemplate.cloneSet({ updateStrategy: CloneSetUpdateStrategy.inPlaceIfPossible({ maxUnavailable: 1 }), minReady: Duration.seconds(4) }),
        subsets: [
          { name: 'a', replicas: 2, nodeSelector: [kplus.NodeLabelQuery.is('zone', 'a')], tolerations: [kplus.NodeTaintQuery.is('dedicated', 'cart')] },
          { name: 'b', replicas: 4, patch: { metadata: { labels: { zone: 'b' } } } },
        ],
        partitions: { a: 2 },
        revisionHistoryLimit: 5,
      });
      ud.setPartition('b', 4);
    });
    const spec = r.byKind('UnitedDeployment').spec;
    expect(spec.replicas).toBe(6); // the sum of the subsets, not Kruise's default of 1
    expect(spec.updateStrategy).toEqual({ type: 'Manual', manualUpdate: { partitions: { a: 2, b: 4 } } });
    expect(spec.topology.subsets[0]).toEqual({
      name: 'a', replicas: 2,
      nodeSelectorTerm: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'cart' }],
    });
    expect(spec.topology.subsets[1].patch).toEqual({ metadata: { labels: { zone: 'b' } } });
    expect(spec.template.cloneSetTemplate.spec).toMatchObject({ minReadySeconds: 4, updateStrategy: { type: 'InPlaceIfPossible', maxUnavailable: 1 } });
    expect(spec.revisionHistoryLimit).toBe(5);
    expect([...r.diagnostics, ...validateObjects(r.objects)]).toEqual([]);
  });

  it('renders an Advanced StatefulSet template with its readiness gate', () => {
    const r = render((c) => new UnitedDeployment(c, 'db', {
      replicas: 3,
      containers: [container],
      template: UnitedDeploymentTemplate.advancedStatefulSet({
        podManagement: PodManagement.parallel({ maxUnavailable: 2 }),
        updateStrategy: StatefulSetUpdateStrategy.rollingUpdate({ podUpdatePolicy: PodUpdatePolicy.IN_PLACE_ONLY }),
      }),
      subsets: [{ name: 'a' }, { name: 'b', minReplicas: 1 } as never],
    }));
    const t = r.byKind('UnitedDeployment').spec.template.advancedStatefulSetTemplate.spec;
    expect(t.updateStrategy.rollingUpdate).toMatchObject({ podUpdatePolicy: 'InPlaceOnly', maxUnavailable: 2 });
    expect(t.template.spec.readinessGates).toEqual([{ conditionType: 'InPlaceUpdateReady' }]);
  });

  it.each([
    ['cloneSetTemplate', UnitedDeploymentTemplate.cloneSet()],
    ['advancedStatefulSetTemplate', UnitedDeploymentTemplate.advancedStatefulSet()],
    ['statefulSetTemplate', UnitedDeploymentTemplate.statefulSet()],
    ['deploymentTemplate', UnitedDeploymentTemplate.deployment()],
  ] as const)('gives the %s its selector (the real apiserver rejects a CloneSet or Advanced StatefulSet template without one)', (field, template) => {
    const r = render((c) => new UnitedDeployment(c, 'cart', {
      containers: [container], podMetadata: { labels: { app: 'cart' } }, template, subsets: [{ name: 'a', replicas: 1 }],
    }));
    const spec = r.byKind('UnitedDeployment').spec;
    expect(Object.keys(spec.template)).toEqual([field]);
    expect(spec.template[field].spec.selector).toEqual(spec.selector);
    expect(spec.selector.matchLabels).toEqual({ 'cdk8s.io/metadata.addr': expect.any(String) });
    expect([...r.diagnostics, ...validateObjects(r.objects)]).toEqual([]);
  });

  it('validation rejects a CloneSet or Advanced StatefulSet subset template without a selector, as the CRD does', () => {
    for (const [field, template] of [['cloneSetTemplate', UnitedDeploymentTemplate.cloneSet()], ['advancedStatefulSetTemplate', UnitedDeploymentTemplate.advancedStatefulSet()]] as const) {
      const r = render((c) => new UnitedDeployment(c, 'cart', { containers: [container], template, subsets: [{ name: 'a', replicas: 1 }] }));
      delete r.objects[0]!.manifest.spec.template[field].spec.selector;
      expect(validateObjects(r.objects)).toContainEqual(expect.objectContaining({
        severity: 'error', rule: 'schema/required', path: `spec.template.${field}.spec.selector`,
      }));
    }
  });

  it('flags a partition for a subset that does not exist (a JavaScript caller gets past the types)', () => {
    const r = render((c) => new UnitedDeployment(c, 'cart', {
      containers: [container], subsets: [{ name: 'a', replicas: 1 }], partitions: { c: 1 } as never,
    }));
    expect(r.diagnostics).toEqual([expect.objectContaining({
      rule: 'uniteddeployment/partition-unknown-subset', constructPath: 'test/cart', message: 'partition for subset "c", which does not exist',
    })]);
  });
});

describe('BroadcastJob and AdvancedCronJob', () => {
  it('renders a BroadcastJob with Never restarts by default', () => {
    const r = render((c) => new BroadcastJob(c, 'warm', {
      containers: [container], parallelism: '20%', paused: false,
      completionPolicy: CompletionPolicy.always({ ttlAfterFinished: Duration.minutes(10), activeDeadline: Duration.minutes(5) }),
      failurePolicy: FailurePolicy.pause().withRestartLimit(2),
    }));
    const spec = r.byKind('BroadcastJob').spec;
    expect(spec).toMatchObject({
      parallelism: '20%', paused: false,
      completionPolicy: { type: 'Always', ttlSecondsAfterFinished: 600, activeDeadlineSeconds: 300 },
      failurePolicy: { type: 'Pause', restartLimit: 2 },
    });
    expect(spec.template.spec.restartPolicy).toBe('Never');
    expect([...r.diagnostics, ...validateObjects(r.objects)]).toEqual([]);
  });

  it('renders a cron broadcast job and a cron Job', () => {
    const r = render((c) => {
      new AdvancedCronJob(c, 'cleanup', {
        schedule: '30 3 * * *', timeZone: 'Europe/Berlin', concurrencyPolicy: ConcurrencyPolicy.FORBID,
        startingDeadline: Duration.minutes(2), successfulJobsRetained: 2, failedJobsRetained: 4, paused: true,
        template: CronJobTemplate.broadcastJob({ parallelism: 3, completionPolicy: CompletionPolicy.never() }),
        containers: [container],
      });
      new AdvancedCronJob(c, 'report', {
        schedule: '@daily',
        template: CronJobTemplate.job({ backoffLimit: 2, activeDeadline: Duration.hours(1), ttlAfterFinished: Duration.hours(2), parallelism: 1, completions: 1 }),
        containers: [container],
      });
    });
    const [cleanup, report] = r.objects.filter((o) => o.manifest.kind === 'AdvancedCronJob').map((o) => o.manifest.spec);
    expect(cleanup).toMatchObject({
      schedule: '30 3 * * *', timeZone: 'Europe/Berlin', concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 120,
      successfulJobsHistoryLimit: 2, failedJobsHistoryLimit: 4, paused: true,
      template: { broadcastJobTemplate: { spec: { parallelism: 3, completionPolicy: { type: 'Never' } } } },
    });
    expect(report.template.jobTemplate.spec).toMatchObject({ backoffLimit: 2, activeDeadlineSeconds: 3600, ttlSecondsAfterFinished: 7200, parallelism: 1, completions: 1 });
    expect(report.template.jobTemplate.spec.template.spec.restartPolicy).toBe('Never');
    expect([...r.diagnostics, ...validateObjects(r.objects)]).toEqual([]);
  });

  it('rejects an invalid schedule at synth time with the construct path', () => {
    const r = render((c) => new AdvancedCronJob(c, 'cleanup', { schedule: '0 3 * * 7', template: CronJobTemplate.job(), containers: [container] }));
    expect(r.diagnostics).toEqual([expect.objectContaining({
      rule: 'cronjob/schedule', constructPath: 'test/cleanup', path: 'spec.schedule',
      message: 'invalid schedule "0 3 * * 7": day of week "7": 7 is outside 0-6 (Sunday is 0, not 7)',
    })]);
  });
});

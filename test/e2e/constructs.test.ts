/**
 * Every L2 construct of dsl/workloads, synthesized by the DSL and applied (server-side, as the
 * engine's field manager) to the real apiserver with Kruise's webhooks: each typical object must
 * be accepted, and kruise-manager must act on it (pods Ready on the kwok nodes, a job completed,
 * a sidecar injected). The schemas and the Kruise rules the DSL checks at synth time must find
 * nothing either: what they accept, the real cluster accepts.
 */
import { Chart, Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { describe, expect, it } from 'vitest';
import {
  AdvancedCronJob, AdvancedDaemonSet, AdvancedStatefulSet, App, BroadcastJob, CloneSet, CloneSetUpdateStrategy, CompletionPolicy,
  ConcurrencyPolicy, CronJobTemplate, DaemonSetUpdateStrategy, FailurePolicy, PodManagement, PodUpdatePolicy, SidecarSet,
  SidecarSetUpdateStrategy, StatefulSetUpdateStrategy, UnitedDeployment, UnitedDeploymentTemplate,
} from '../../dsl/index.js';
import { KubeCluster } from '../../engine/cluster/kube.js';
import type { KubeObject } from '../../engine/cluster/types.js';
import { validateObjects } from '../../engine/validate/index.js';
import { apply, ApplyError, kubeconfigPath, waitFor, withNamespace } from '../cluster/harness.js';
import type * as k8s from '@kubernetes/client-node';

/** kwok runs any image; the security context is relaxed because nothing really runs. */
const main = (image = 'registry.example.com/app:1.0.0'): kplus.ContainerProps => ({
  name: 'main', image, securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: false },
});
const NODES = 3;

/** Synthesizes one chart in `ns`; the DSL's own diagnostics and the validation must be empty. */
function synth(ns: string, build: (chart: Chart) => void): KubeObject[] {
  const app = new App();
  build(new Chart(app, 'e2e', { namespace: ns }));
  const { objects, diagnostics } = app.render();
  expect([...diagnostics, ...validateObjects(objects)].filter((d) => d.severity === 'error')).toEqual([]);
  return objects.map((o) => o.manifest as KubeObject);
}

async function applyAll(objects: KubeObject[]): Promise<void> {
  for (const o of objects) {
    try {
      await apply(o as unknown as k8s.KubernetesObject, { fieldManager: 'kgitops' });
    } catch (e) {
      const body = (e as ApplyError).body as { message?: string } | undefined;
      throw new Error(`the apiserver rejected ${o.kind} ${o.metadata.name}: ${body?.message ?? (e as Error).message}`);
    }
  }
}

let client: KubeCluster | undefined;
/** The engine's own client: reads and lists as the engine sees them. */
const kube = () => (client ??= KubeCluster.load({ kubeconfig: kubeconfigPath() }));

async function read(apiVersion: string, kind: string, name: string, namespace?: string): Promise<KubeObject> {
  const o = await kube().get({ apiVersion, kind, name, ...(namespace ? { namespace } : {}) });
  if (!o) throw new Error(`${kind} ${name} not found`);
  return o;
}

const list = async (apiVersion: string, kind: string, namespace?: string, labelSelector?: string) =>
  (await kube().list(apiVersion, kind, { ...(namespace ? { namespace } : {}), ...(labelSelector ? { labelSelector } : {}) })).items;

/** Waits until the controller has observed the latest generation and `ok` holds for the status. */
async function until(apiVersion: string, kind: string, name: string, namespace: string | undefined, what: string, ok: (status: any) => boolean) {
  return waitFor(async () => {
    const o = await read(apiVersion, kind, name, namespace);
    const observed = o.status?.observedGeneration === undefined || o.status.observedGeneration >= (o.metadata.generation ?? 0);
    return observed && o.status && ok(o.status) ? o : undefined;
  }, { timeoutMs: 120_000, intervalMs: 500, message: `${kind} ${name}: ${what}` });
}

async function pods(ns: string, selector: string): Promise<KubeObject[]> {
  return (await list('v1', 'Pod', ns, selector)).filter((p) => !p.metadata.deletionTimestamp);
}

describe('each L2 construct on the real apiserver with Kruise webhooks', () => {
  it('CloneSet (in place, surge, priorities): accepted, 4 pods Ready', () => withNamespace(async (ns) => {
    await applyAll(synth(ns, (c) => new CloneSet(c, 'web', {
      metadata: { name: 'web' }, replicas: 4, podMetadata: { labels: { app: 'web' } },
      updateStrategy: CloneSetUpdateStrategy.inPlaceIfPossible({ maxSurge: '25%', maxUnavailable: 1, partition: '50%', gracePeriod: Duration.seconds(5) }),
      minReady: Duration.seconds(1), progressDeadline: Duration.minutes(5),
      containers: [{ ...main(), portNumber: 8080 }],
    })));
    await until('apps.kruise.io/v1alpha1', 'CloneSet', 'web', ns, '4 ready', (s) => s.readyReplicas === 4);
  }));

  it('AdvancedStatefulSet (parallel, in place, volume claims retention): accepted, 3 pods Ready', () => withNamespace(async (ns) => {
    await applyAll(synth(ns, (c) => {
      const svc = new kplus.Service(c, 'db-headless', { metadata: { name: 'db' }, clusterIP: 'None', ports: [{ port: 5432 }] });
      const db = new AdvancedStatefulSet(c, 'db', {
        metadata: { name: 'db' }, replicas: 3, service: svc, podMetadata: { labels: { app: 'db' } },
        podManagement: PodManagement.parallel({ maxUnavailable: 1 }),
        updateStrategy: StatefulSetUpdateStrategy.rollingUpdate({ podUpdatePolicy: PodUpdatePolicy.IN_PLACE_IF_POSSIBLE }),
        volumeClaimRetention: { whenScaled: 'Delete', whenDeleted: 'Retain' },
        containers: [{ ...main(), portNumber: 5432 }],
      });
      svc.select(db);
    }));
    const sts = await until('apps.kruise.io/v1beta1', 'StatefulSet', 'db', ns, '3 ready', (s) => s.readyReplicas === 3);
    expect(sts.spec.template.spec.readinessGates).toEqual([{ conditionType: 'InPlaceUpdateReady' }]);
  }));

  it('AdvancedDaemonSet (in place, partition): accepted, a pod Ready on every node', () => withNamespace(async (ns) => {
    await applyAll(synth(ns, (c) => new AdvancedDaemonSet(c, 'agent', {
      metadata: { name: 'agent' }, podMetadata: { labels: { app: 'agent' } },
      updateStrategy: DaemonSetUpdateStrategy.inPlaceIfPossible({ maxUnavailable: 1, partition: '50%' }),
      minReady: Duration.seconds(1),
      containers: [main()],
    })));
    await until('apps.kruise.io/v1alpha1', 'DaemonSet', 'agent', ns, 'ready on every node', (s) => s.desiredNumberScheduled === NODES && s.numberReady === NODES);
  }));

  it('SidecarSet (rolling, shared volumes): accepted, and its sidecar is injected into the matching pods', () => withNamespace(async (ns) => {
    const name = `logs-${ns}`.slice(0, 63);
    try {
      await applyAll(synth(ns, (c) => {
        new SidecarSet(c, 'logs', {
          metadata: { name }, selector: { matchLabels: { logging: 'on' } }, namespace: ns,
          containers: [{ ...main('registry.example.com/log-shipper:0.31.0'), name: 'shipper', shareVolumes: true }],
          updateStrategy: SidecarSetUpdateStrategy.rollingUpdate({ maxUnavailable: 1, partition: '50%' }),
        });
      }));
      // The pods come after the SidecarSet, so that they are created with the sidecar.
      await applyAll(synth(ns, (c) => new CloneSet(c, 'app', { metadata: { name: 'app' }, replicas: 2, podMetadata: { labels: { logging: 'on' } }, containers: [main()] })));
      await until('apps.kruise.io/v1alpha1', 'SidecarSet', name, undefined, '2 matched pods', (s) => s.matchedPods === 2 && s.readyPods === 2);
      const injected = await pods(ns, 'logging=on');
      expect(injected.map((p) => p.spec.containers.map((c: { name: string }) => c.name).sort())).toEqual([['main', 'shipper'], ['main', 'shipper']]);
    } finally {
      await kube().delete({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'SidecarSet', name }).catch(() => {});
    }
  }));

  const zones = ['zone-a', 'zone-b', 'zone-c'].map((z) => ({ name: z, nodeSelector: [kplus.NodeLabelQuery.is('topology.kubernetes.io/zone', z)] }));
  it.each([
    ['cloneSetTemplate', 'apps.kruise.io/v1alpha1', 'CloneSet', () => UnitedDeploymentTemplate.cloneSet({ updateStrategy: CloneSetUpdateStrategy.inPlaceIfPossible({ maxUnavailable: 1 }) })],
    ['advancedStatefulSetTemplate', 'apps.kruise.io/v1beta1', 'StatefulSet', () => UnitedDeploymentTemplate.advancedStatefulSet({ podManagement: PodManagement.parallel() })],
    ['statefulSetTemplate', 'apps/v1', 'StatefulSet', () => UnitedDeploymentTemplate.statefulSet({ podManagementPolicy: 'Parallel' })],
    ['deploymentTemplate', 'apps/v1', 'Deployment', () => UnitedDeploymentTemplate.deployment()],
  ] as const)('UnitedDeployment with a %s: accepted, one %s %s per zone, 6 pods Ready, each in its zone', (field, subsetApiVersion, subsetKind, template) => withNamespace(async (ns) => {
    const objects = synth(ns, (c) => new UnitedDeployment(c, 'cart', {
      metadata: { name: 'cart' }, replicas: 6, podMetadata: { labels: { app: 'cart' } }, template: template(),
      subsets: [{ ...zones[0]!, replicas: 1 }, { ...zones[1]!, replicas: '50%' }, zones[2]!],
      partitions: { 'zone-a': 0 },
      containers: [main()],
    }));
    expect(Object.keys(objects[0]!.spec.template)).toEqual([field]);
    await applyAll(objects);
    const ud = await until('apps.kruise.io/v1alpha1', 'UnitedDeployment', 'cart', ns, '6 ready', (s) => s.readyReplicas === 6);
    expect(ud.status.subsetReplicas).toEqual({ 'zone-a': 1, 'zone-b': 3, 'zone-c': 2 });
    const subsets = await list(subsetApiVersion, subsetKind, ns);
    expect(subsets.map((s) => s.metadata.labels?.['apps.kruise.io/subset-name']).sort()).toEqual(['zone-a', 'zone-b', 'zone-c']);
    const nodes = new Map((await list('v1', 'Node')).map((n) => [n.metadata.name, n.metadata.labels?.['topology.kubernetes.io/zone']]));
    for (const p of await pods(ns, 'app=cart')) expect(nodes.get(p.spec.nodeName)).toBe(p.metadata.labels?.['apps.kruise.io/subset-name']);
  }));

  it('UnitedDeployment: a CloneSet template without a selector is rejected by the real apiserver, as the schemas say', () => withNamespace(async (ns) => {
    const [ud] = synth(ns, (c) => new UnitedDeployment(c, 'cart', { metadata: { name: 'cart' }, containers: [main()], subsets: [{ name: 'a', replicas: 1 }] }));
    delete ud!.spec.template.cloneSetTemplate.spec.selector;
    const err = await apply(ud! as unknown as k8s.KubernetesObject, { fieldManager: 'kgitops' }).then(() => undefined, (e: unknown) => e as ApplyError);
    expect(err?.code).toBe(422);
    expect((err!.body as { message: string }).message).toContain('spec.template.cloneSetTemplate.spec.selector');
    expect(validateObjects([{ manifest: ud!, chart: 'e2e', constructPath: 'e2e/cart' }])).toContainEqual(expect.objectContaining({ rule: 'schema/required', path: 'spec.template.cloneSetTemplate.spec.selector' }));
  }));

  it('BroadcastJob (half the nodes at a time, continue on failure): accepted, completed on every node', () => withNamespace(async (ns) => {
    await applyAll(synth(ns, (c) => new BroadcastJob(c, 'prewarm', {
      metadata: { name: 'prewarm' }, parallelism: '50%',
      completionPolicy: CompletionPolicy.always({ ttlAfterFinished: Duration.hours(1), activeDeadline: Duration.minutes(20) }),
      failurePolicy: FailurePolicy.continue(),
      containers: [{ ...main(), command: ['/bin/true'] }],
    })));
    const job = await until('apps.kruise.io/v1alpha1', 'BroadcastJob', 'prewarm', ns, 'completed', (s) => s.phase === 'completed');
    expect(job.status).toMatchObject({ desired: NODES, succeeded: NODES, failed: 0 });
  }));

  it.each([
    ['broadcastJob', 'BroadcastJob', () => CronJobTemplate.broadcastJob({ parallelism: '10%', completionPolicy: CompletionPolicy.always({ ttlAfterFinished: Duration.hours(1) }), failurePolicy: FailurePolicy.continue() })],
    ['job', 'Job', () => CronJobTemplate.job({ backoffLimit: 2, activeDeadline: Duration.minutes(10), ttlAfterFinished: Duration.hours(1) })],
  ] as const)('AdvancedCronJob with a %s template: accepted, and kruise-manager takes it on (status.type %s)', (_name, type, template) => withNamespace(async (ns) => {
    await applyAll(synth(ns, (c) => new AdvancedCronJob(c, 'cleanup', {
      metadata: { name: 'cleanup' }, schedule: '30 3 * * *', timeZone: 'Europe/Berlin', concurrencyPolicy: ConcurrencyPolicy.FORBID,
      startingDeadline: Duration.minutes(5), successfulJobsRetained: 3, failedJobsRetained: 1, template: template(),
      containers: [{ ...main(), args: ['--older-than=168h'] }],
    })));
    await until('apps.kruise.io/v1alpha1', 'AdvancedCronJob', 'cleanup', ns, `status.type ${type}`, (s) => s.type === type);
  }));
});

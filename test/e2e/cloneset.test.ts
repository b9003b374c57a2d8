// OpenKruise CloneSets on the level (b) control plane: the real kruise-manager (controllers and
// webhooks), kube-scheduler, and kwok nodes that make pods Ready without a kubelet.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { apply, kubeConfig, objectApi, waitFor, withNamespace } from '../cluster/harness.js';

interface CloneSet extends k8s.KubernetesObject {
  spec: {
    replicas?: number;
    updateStrategy?: {
      type?: string;
      partition?: number | string;
      maxUnavailable?: number | string;
      maxSurge?: number | string;
      inPlaceUpdateStrategy?: Record<string, unknown>;
    };
    template: { spec: { containers: { name: string; image: string }[] } };
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    updatedReplicas?: number;
    updatedReadyReplicas?: number;
    expectedUpdatedReplicas?: number;
    updateRevision?: string;
    currentRevision?: string;
  };
}

const OLD_IMAGE = 'nginx:1.25.3';
const NEW_IMAGE = 'nginx:1.25.4';

function cloneSet(ns: string, name: string, replicas: number, updateStrategy?: CloneSet['spec']['updateStrategy']): CloneSet {
  return {
    apiVersion: 'apps.kruise.io/v1alpha1',
    kind: 'CloneSet',
    metadata: { name, namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      ...(updateStrategy ? { updateStrategy } : {}),
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: OLD_IMAGE }] },
      },
    } as CloneSet['spec'],
  };
}

async function readCloneSet(ns: string, name: string): Promise<CloneSet> {
  return objectApi().read<CloneSet>({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name, namespace: ns } });
}

async function pods(ns: string, app: string): Promise<k8s.V1Pod[]> {
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  const list = await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp);
}

/** Wait until the controller has seen the latest generation and `pred` holds for the status. */
async function waitForStatus(ns: string, name: string, what: string, pred: (s: NonNullable<CloneSet['status']>) => boolean) {
  return waitFor(
    async () => {
      const cs = await readCloneSet(ns, name);
      const s = cs.status;
      return s && (s.observedGeneration ?? 0) >= (cs.metadata?.generation ?? 1) && pred(s) ? cs : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 500, message: `CloneSet ${ns}/${name}: ${what}` },
  );
}

function revisionOf(pod: k8s.V1Pod): string | undefined {
  return pod.metadata?.labels?.['controller-revision-hash'];
}

describe('CloneSet with kruise-manager and kwok nodes', () => {
  it('gets webhook defaults and becomes ready with kwok pods', () =>
    withNamespace(async (ns) => {
      const created = await objectApi().create(cloneSet(ns, 'web', 3));
      // Defaults come from Kruise's mutating webhook, not from the CRD schema.
      expect(created.spec.updateStrategy).toMatchObject({ type: 'ReCreate', partition: 0, maxUnavailable: '20%', maxSurge: 0 });
      expect((created.spec as { revisionHistoryLimit?: number }).revisionHistoryLimit).toBe(10);

      const ready = await waitForStatus(ns, 'web', 'readyReplicas = 3', (s) => s.readyReplicas === 3 && s.replicas === 3);
      expect(ready.status).toMatchObject({ replicas: 3, readyReplicas: 3, updatedReplicas: 3, availableReplicas: 3 });

      const running = await pods(ns, 'web');
      expect(running).toHaveLength(3);
      for (const pod of running) {
        expect(pod.spec?.nodeName, 'scheduled onto a kwok node').toMatch(/^kwok-node-\d+$/);
        expect(pod.status?.phase).toBe('Running');
        expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
        // Kruise's pod webhook adds its in-place readiness gate; kwok sets the condition.
        expect(pod.spec?.readinessGates?.map((g) => g.conditionType)).toContain('InPlaceUpdateReady');
      }
    }));

  for (const type of ['ReCreate', 'InPlaceIfPossible'] as const) {
    it(`partition 3 of 5 updates exactly 2 pods on an image change (${type})`, () =>
      withNamespace(async (ns) => {
        const name = type.toLowerCase();
        const strategy = { type, partition: 3, maxUnavailable: 2 };
        await apply(cloneSet(ns, name, 5, strategy), { fieldManager: 'kgitops-e2e' });
        const initial = await waitForStatus(ns, name, '5 ready', (s) => s.readyReplicas === 5 && s.updatedReplicas === 5);
        const oldRevision = initial.status!.updateRevision!;
        const before = await pods(ns, name);
        expect(before).toHaveLength(5);

        const changed = cloneSet(ns, name, 5, strategy);
        changed.spec.template.spec.containers[0].image = NEW_IMAGE;
        await apply(changed, { fieldManager: 'kgitops-e2e' });

        const done = await waitForStatus(
          ns,
          name,
          '2 updated and ready',
          (s) => s.updateRevision !== oldRevision && s.updatedReplicas === 2 && s.updatedReadyReplicas === 2 && s.readyReplicas === 5,
        );
        expect(done.status).toMatchObject({ replicas: 5, updatedReplicas: 2, expectedUpdatedReplicas: 2, updatedReadyReplicas: 2, readyReplicas: 5 });
        expect(done.status!.currentRevision).toBe(oldRevision);

        const after = await pods(ns, name);
        expect(after).toHaveLength(5);
        const updated = after.filter((p) => revisionOf(p) === done.status!.updateRevision);
        const old = after.filter((p) => revisionOf(p) === oldRevision);
        expect(updated).toHaveLength(2);
        expect(old).toHaveLength(3);
        for (const p of updated) expect(p.spec?.containers[0].image).toBe(NEW_IMAGE);
        for (const p of old) expect(p.spec?.containers[0].image).toBe(OLD_IMAGE);

        const beforeUids = new Set(before.map((p) => p.metadata!.uid));
        if (type === 'ReCreate') {
          // Updated pods are new pods; the old ones were deleted.
          for (const p of updated) expect(beforeUids.has(p.metadata!.uid)).toBe(false);
        } else {
          // In place: same pods, new image reported by the (kwok) runtime, update marked done.
          expect(new Set(after.map((p) => p.metadata!.uid))).toEqual(beforeUids);
          for (const p of updated) {
            const cs = p.status?.containerStatuses?.[0];
            expect(cs?.image).toBe(NEW_IMAGE);
            expect(cs?.imageID).toBe(`kwok://${NEW_IMAGE}`);
            expect(p.status?.conditions?.find((c) => c.type === 'InPlaceUpdateReady')?.status).toBe('True');
            const state = JSON.parse(p.metadata?.annotations?.['apps.kruise.io/inplace-update-state'] ?? '{}');
            expect(state).toMatchObject({ revision: done.status!.updateRevision, updateImages: true });
          }
        }

        // The partition holds: a little later still exactly 2 pods are updated.
        await new Promise((r) => setTimeout(r, 2000));
        const settled = await readCloneSet(ns, name);
        expect(settled.status).toMatchObject({ updatedReplicas: 2, expectedUpdatedReplicas: 2, readyReplicas: 5 });
      }));
  }

  it('rejects maxSurge > 0 with InPlaceOnly in the validating webhook', () =>
    withNamespace(async (ns) => {
      const bad = cloneSet(ns, 'bad', 2, { type: 'InPlaceOnly', maxSurge: 1 });
      const err = (await objectApi()
        .create(bad)
        .then(
          () => undefined,
          (e: unknown) => e,
        )) as { code?: number; body?: unknown } | undefined;
      expect(err, 'create should be rejected').toBeDefined();
      const body = (typeof err!.body === 'string' ? JSON.parse(err!.body) : err!.body) as k8s.V1Status;
      expect(err!.code).toBe(422);
      expect(body.message).toContain('admission webhook "vcloneset.kb.io" denied the request');
      expect(body.message).toContain('spec.updateStrategy.maxSurge: Invalid value: "1": can not use maxSurge with strategy type InPlaceOnly');
      // nothing was stored
      const list = await objectApi().list('apps.kruise.io/v1alpha1', 'CloneSet', ns);
      expect(list.items).toHaveLength(0);
    }));
});

// Level (a) runs the real kube-controller-manager: garbage collection and namespace deletion
// work, as the sync engine's prune logic will rely on.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { createNamespace, deleteNamespace, kubeConfig, waitFor, withNamespace } from '../cluster/harness.js';

const notFound = (e: unknown) => (e as { code?: number }).code === 404;

describe('kube-controller-manager', () => {
  it('garbage-collects dependents of a deleted owner', () =>
    withNamespace(async (ns) => {
      const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
      const owner = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'owner' } } });
      await core.createNamespacedConfigMap({
        namespace: ns,
        body: {
          metadata: {
            name: 'dependent',
            ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! }],
          },
        },
      });
      await core.deleteNamespacedConfigMap({ name: 'owner', namespace: ns, propagationPolicy: 'Background' });
      await waitFor(
        () => core.readNamespacedConfigMap({ name: 'dependent', namespace: ns }).then(() => false, notFound),
        { timeoutMs: 30_000, message: 'the dependent ConfigMap to be garbage-collected' },
      );
    }));

  it('deletes a namespace with content and creates default ServiceAccounts', async () => {
    const ns = await createNamespace('ns-deletion');
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    const sa = await core.readNamespacedServiceAccount({ name: 'default', namespace: ns });
    expect(sa.metadata?.name).toBe('default');
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'content' } } });
    await deleteNamespace(ns, { wait: true });
    await expect(core.readNamespace({ name: ns })).rejects.toMatchObject({ code: 404 });
  });
});

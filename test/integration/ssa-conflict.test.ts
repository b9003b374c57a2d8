// Server-side apply against the real kube-apiserver (level a): two field managers that set the
// same field conflict with 409 unless the second one forces.
import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { apply, kubeConfig, withNamespace } from '../cluster/harness.js';

function apiError(e: unknown): { code: number; body: k8s.V1Status } {
  const err = e as { code?: number; body?: unknown };
  const body = typeof err.body === 'string' ? (JSON.parse(err.body) as k8s.V1Status) : (err.body as k8s.V1Status);
  return { code: err.code ?? 0, body };
}

async function expectConflict(p: Promise<unknown>): Promise<k8s.V1Status> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'apply should have been rejected').toBeDefined();
  const { code, body } = apiError(e);
  expect(code).toBe(409);
  expect(body.reason).toBe('Conflict');
  return body;
}

describe('server-side apply field ownership', () => {
  it('a second field manager conflicts (409) on a ConfigMap key the first one owns', () =>
    withNamespace(async (ns) => {
      const cm = (value: string, extra: Record<string, string> = {}) => ({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'shared', namespace: ns },
        data: { shared: value, ...extra },
      });
      await apply(cm('from-alice'), { fieldManager: 'alice' });

      const status = await expectConflict(apply(cm('from-bob', { bob: 'x' }), { fieldManager: 'bob' }));
      expect(status.message).toContain('conflict with "alice"');
      expect(status.message).toContain('.data.shared');
      expect(status.details?.causes?.map((c) => c.field)).toEqual(['.data.shared']);

      // Nothing changed, and bob owns nothing.
      const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
      const before = await core.readNamespacedConfigMap({ name: 'shared', namespace: ns });
      expect(before.data).toEqual({ shared: 'from-alice' });
      expect(before.metadata?.managedFields?.map((m) => m.manager)).toEqual(['alice']);

      // Applying the same value is not a conflict: both become co-owners.
      await apply(cm('from-alice', { bob: 'x' }), { fieldManager: 'bob' });
      const shared = await core.readNamespacedConfigMap({ name: 'shared', namespace: ns });
      expect(shared.metadata?.managedFields?.map((m) => m.manager).sort()).toEqual(['alice', 'bob']);

      // Forcing takes the field over: alice loses it.
      const forced = (await apply(cm('from-bob', { bob: 'x' }), { fieldManager: 'bob', force: true })) as k8s.V1ConfigMap;
      expect(forced.data).toEqual({ shared: 'from-bob', bob: 'x' });
      const alice = forced.metadata?.managedFields?.find((m) => m.manager === 'alice');
      expect(JSON.stringify(alice?.fieldsV1 ?? {})).not.toContain('f:shared');
    }));

  it('conflicts on spec.replicas of a Kruise CloneSet (CRD installed by the harness)', () =>
    withNamespace(async (ns) => {
      const cloneSet = (replicas: number) => ({
        apiVersion: 'apps.kruise.io/v1alpha1',
        kind: 'CloneSet',
        metadata: { name: 'web', namespace: ns },
        spec: {
          replicas,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'web', image: 'nginx:1.25.3' }] },
          },
        },
      });
      await apply(cloneSet(2), { fieldManager: 'kgitops' });
      const status = await expectConflict(apply(cloneSet(4), { fieldManager: 'hpa' }));
      expect(status.message).toContain('conflict with "kgitops"');
      expect(status.details?.causes?.map((c) => c.field)).toContain('.spec.replicas');

      const forced = await apply(cloneSet(4), { fieldManager: 'hpa', force: true });
      expect((forced as { spec: { replicas: number } }).spec.replicas).toBe(4);
    }));
});

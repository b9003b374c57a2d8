// Test-side helpers for the 'integration' and 'e2e' vitest projects. The project's globalSetup
// has started one shared control plane; each test works in a namespace of its own.
//
//   import { kubeConfig, withNamespace, waitFor } from '../cluster/harness.js';
//
//   it('does something', () =>
//     withNamespace(async (ns) => {
//       const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
//       ...
//     }));
import * as crypto from 'node:crypto';
import { dirname, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterEach, beforeEach, expect, inject } from 'vitest';
import './context.js';
import { CLUSTER_CONTEXT_KEY, type ClusterContext } from './context.js';
import { ApplyError, rawApply } from './raw-apply.js';
import { waitFor } from '../fixtures/wait.js';

export type { ClusterContext };
export { ApplyError, rawApply };

/** What the globalSetup provided; throws if this test runs outside 'integration'/'e2e'. */
export function cluster(): ClusterContext {
  const ctx = inject(CLUSTER_CONTEXT_KEY);
  if (!ctx?.kubeconfigPath) {
    throw new Error(
      'no control plane: this test must run in the vitest "integration" or "e2e" project ' +
        '(npx vitest run --project integration), whose globalSetup starts it',
    );
  }
  return ctx;
}

/** Path of the admin kubeconfig (token auth, CA file); usable by any Kubernetes client. */
export function kubeconfigPath(): string {
  return cluster().kubeconfigPath;
}

/**
 * A second admin kubeconfig, whose every write the apiserver's audit log (auditLogPath(), JSON
 * lines) records with its user agent: for tests that must know who wrote what.
 */
export function auditedKubeconfigPath(): string {
  return join(dirname(kubeconfigPath()), 'kubeconfig-audited');
}

export function auditLogPath(): string {
  return join(dirname(kubeconfigPath()), 'audit.log');
}

/** A fresh KubeConfig loaded from the shared control plane's kubeconfig. */
export function kubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return kc;
}

/** Generic client (create/patch/read/delete any kind by apiVersion + kind). */
export function objectApi(kc: k8s.KubeConfig = kubeConfig()): k8s.KubernetesObjectApi {
  return k8s.KubernetesObjectApi.makeApiClient(kc);
}

/**
 * Server-side apply `obj` as `fieldManager` (force = take over conflicting fields). The object is
 * sent as plain JSON (no client-side typed serialization); the result is the API server's JSON.
 * Rejections throw an ApplyError with `code` (HTTP status) and `body` (the Status object).
 */
export async function apply<T extends k8s.KubernetesObject>(
  obj: T,
  opts: { fieldManager?: string; force?: boolean; dryRun?: boolean; kc?: k8s.KubeConfig } = {},
): Promise<T> {
  return rawApply(opts.kc ?? kubeConfig(), obj, {
    fieldManager: opts.fieldManager ?? 'kgitops-test',
    force: opts.force,
    dryRun: opts.dryRun,
  });
}

function dns1123(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40)
      .replace(/-+$/g, '') || 't'
  );
}

function currentTestName(): string {
  try {
    return expect.getState().currentTestName ?? 't';
  } catch {
    return 't';
  }
}

/**
 * Create a uniquely named namespace (prefix defaults to the current test's name) and wait
 * until its default ServiceAccount exists, so pods can be created in it right away.
 */
export async function createNamespace(prefix?: string, labels: Record<string, string> = {}): Promise<string> {
  const name = `${dns1123(prefix ?? currentTestName())}-${crypto.randomBytes(3).toString('hex')}`;
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({
    body: { metadata: { name, labels: { 'kgitops.test/namespace': 'true', ...labels } } },
  });
  await waitFor(
    async () => {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
      return true;
    },
    { timeoutMs: 30_000, message: `default ServiceAccount in ${name}` },
  );
  return name;
}

/** Delete a namespace (the controller-manager removes its contents in the background). */
export async function deleteNamespace(name: string, opts: { wait?: boolean } = {}): Promise<void> {
  const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
  try {
    await core.deleteNamespace({ name, propagationPolicy: 'Background' });
  } catch (e) {
    if ((e as { code?: number }).code !== 404) throw e;
  }
  if (opts.wait) {
    await waitFor(
      async () => {
        try {
          await core.readNamespace({ name });
          return false;
        } catch (e) {
          return (e as { code?: number }).code === 404;
        }
      },
      { timeoutMs: 120_000, message: `namespace ${name} to be deleted` },
    );
  }
}

/** Run fn in a fresh namespace, deleted afterwards whether fn passes or throws. */
export async function withNamespace<T>(
  fn: (namespace: string, kc: k8s.KubeConfig) => Promise<T>,
  opts: { prefix?: string; labels?: Record<string, string>; waitForDeletion?: boolean } = {},
): Promise<T> {
  const ns = await createNamespace(opts.prefix, opts.labels);
  try {
    return await fn(ns, kubeConfig());
  } finally {
    await deleteNamespace(ns, { wait: opts.waitForDeletion });
  }
}

/**
 * Register beforeEach/afterEach hooks giving every test in the enclosing describe its own
 * namespace: `const ns = useNamespace(); it('...', async () => { ns.name ... })`.
 */
export function useNamespace(prefix?: string): { readonly name: string } {
  let current: string | undefined;
  beforeEach(async () => {
    current = await createNamespace(prefix);
  }, 60_000);
  afterEach(async () => {
    if (current) await deleteNamespace(current);
    current = undefined;
  }, 60_000);
  return {
    get name() {
      if (!current) throw new Error('useNamespace(): only available inside a test');
      return current;
    },
  };
}

export { waitFor };

/**
 * The controller with an App whose commit declares a Fleet (simulated clusters): the commit goes
 * to the clusters of its waves, never to the management cluster, and the App's status tells
 * where the fleet release is.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { SimCluster } from '../../../engine/cluster/sim/index.js';
import type { KubeObject } from '../../../engine/cluster/types.js';
import { realClock } from '../../../engine/clock.js';
import { APP_API_VERSION, APP_KIND, type AppObject, appCrd } from '../../../engine/controller/app-resource.js';
import { Controller } from '../../../engine/controller/controller.js';
import { LABEL_CLUSTER } from '../../../engine/fleet/clusters.js';
import type { FleetStatus } from '../../../engine/fleet/runner.js';
import { createLogger } from '../../../engine/log.js';
import { configMap, GitApp } from '../../fixtures/git-app.js';
import { waitFor } from '../../fixtures/wait.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterAll(async () => { for (const c of cleanup.reverse()) await c(); });

it('sends a fleet App\'s commit to the clusters of its waves, not to its own cluster', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'kgitops-fleet-ctl-'));
  const repo = new GitApp();
  const management = new SimCluster({ clock: realClock, namespaces: ['default', 'kgitops-system', 'shop'] });
  const staging = new SimCluster({ clock: realClock, namespaces: ['default', 'shop'] });
  cleanup.push(() => rmSync(cache, { recursive: true, force: true }), () => repo.remove(), () => management.stop(), () => staging.stop());
  await management.apply(appCrd() as unknown as KubeObject, { fieldManager: 'test' });
  await management.apply({
    apiVersion: 'v1', kind: 'Secret', metadata: { name: 'staging', namespace: 'kgitops-system', labels: { [LABEL_CLUSTER]: 'true', env: 'staging' } },
    data: { kubeconfig: Buffer.from('clusters: [{ name: c, cluster: { server: "https://127.0.0.1:1" } }]\ncontexts: [{ name: c, context: { cluster: c, user: u } }]\nusers: [{ name: u, user: { token: t } }]\ncurrent-context: c\n').toString('base64') },
  } as unknown as KubeObject, { fieldManager: 'test' });
  const fleet = { apiVersion: 'kgitops.io/v1alpha1', kind: 'FleetPlan', metadata: { name: 'fleet' }, spec: { version: 1, waves: [{ name: 'staging', clusters: { matchLabels: { env: 'staging' } }, gates: [] }] } };
  const sha = repo.commit({ namespace: 'shop', objects: [fleet, configMap('a', { v: '1' })] }, 'fleet');
  const controller = new Controller({
    cluster: management, clock: realClock, log: createLogger({ level: 'silent' }), cacheDir: cache, allowLocalRepos: true, allowControllerIdentity: true,
    sandbox: { unsafe: false, limits: {} }, typecheck: false, clustersNamespace: 'kgitops-system', connectCluster: () => staging,
  });
  const running = controller.run();
  cleanup.push(async () => { await controller.stop(); await running.catch(() => {}); });
  await management.apply({ apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: 'shop', namespace: 'shop' }, spec: { source: { repo: repo.dir, interval: '1h' } } } as unknown as KubeObject, { fieldManager: 'test' });
  const app = await waitFor(async () => {
    const a = (await management.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: 'shop', name: 'shop' })) as unknown as AppObject & { status?: { fleet?: FleetStatus } };
    return a?.status?.fleet?.release.phase === 'Completed' ? a : undefined;
  }, { timeoutMs: 60_000, message: 'the fleet release completed' });
  expect(app.status).toMatchObject({ sync: 'Synced', health: 'Current', commit: sha.slice(0, 12), message: `fleet release shop/shop@${sha.slice(0, 12)} completed: every wave has commit ${sha.slice(0, 12)}` });
  expect(app.status!.fleet!.clusters).toEqual([expect.objectContaining({ name: 'staging', wave: 'staging', target: sha, commit: sha, reachable: true })]);
  expect((await staging.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' }))?.data).toEqual({ v: '1' });
  // Nothing of the app in the management cluster: neither the object nor the plan.
  expect(await management.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' })).toBeUndefined();
}, 90_000);

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
import { issueFleetCommand } from '../../../engine/fleet/commands.js';
import { formatFleet } from '../../../engine/cli/status.js';
import { createLogger } from '../../../engine/log.js';
import { configMap, GitApp } from '../../fixtures/git-app.js';
import { waitFor } from '../../fixtures/wait.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterAll(async () => { for (const c of cleanup.reverse()) await c(); });

it('sends a fleet App\'s commit to the clusters of its waves, not to its own cluster; kgitops approve --wave opens the next wave', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'kgitops-fleet-ctl-'));
  const repo = new GitApp();
  const management = new SimCluster({ clock: realClock, namespaces: ['default', 'kgitops-system', 'shop'] });
  const staging = new SimCluster({ clock: realClock, namespaces: ['default', 'shop'] });
  const prod = new SimCluster({ clock: realClock, namespaces: ['default', 'shop'] });
  cleanup.push(() => rmSync(cache, { recursive: true, force: true }), () => repo.remove(), () => management.stop(), () => staging.stop(), () => prod.stop());
  await management.apply(appCrd() as unknown as KubeObject, { fieldManager: 'test' });
  for (const [name, env] of [['staging', 'staging'], ['prod', 'prod']]) {
    await management.apply({
      apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'kgitops-system', labels: { [LABEL_CLUSTER]: 'true', env } },
      data: { kubeconfig: Buffer.from('clusters: [{ name: c, cluster: { server: "https://127.0.0.1:1" } }]\ncontexts: [{ name: c, context: { cluster: c, user: u } }]\nusers: [{ name: u, user: { token: t } }]\ncurrent-context: c\n').toString('base64') },
    } as unknown as KubeObject, { fieldManager: 'test' });
  }
  const fleet = { apiVersion: 'kgitops.io/v1alpha1', kind: 'FleetPlan', metadata: { name: 'fleet' }, spec: { version: 1, waves: [{ name: 'staging', clusters: { matchLabels: { env: 'staging' } }, gates: [] }, { name: 'prod', clusters: { matchLabels: { env: 'prod' } }, gates: [{ type: 'approval' }] }] } };
  const sha = repo.commit({ namespace: 'shop', objects: [fleet, configMap('a', { v: '1' })] }, 'fleet');
  const controller = new Controller({
    cluster: management, clock: realClock, log: createLogger({ level: 'silent' }), cacheDir: cache, allowLocalRepos: true, allowControllerIdentity: true,
    sandbox: { unsafe: false, limits: {} }, typecheck: false, clustersNamespace: 'kgitops-system', connectCluster: (c) => (c.name === 'prod' ? prod : staging),
  });
  const running = controller.run();
  cleanup.push(async () => { await controller.stop(); await running.catch(() => {}); });
  await management.apply({ apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: 'shop', namespace: 'shop' }, spec: { source: { repo: repo.dir, interval: '1h' } } } as unknown as KubeObject, { fieldManager: 'test' });
  const read = async () => (await management.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: 'shop', name: 'shop' })) as unknown as AppObject & { status?: { fleet?: FleetStatus } };
  // Staging gets the commit; prod waits for an approval.
  const waiting = await waitFor(async () => {
    const a = await read();
    return a?.status?.fleet?.release.waves[1]?.gates['1/0']?.status === 'Pending' ? a : undefined;
  }, { timeoutMs: 60_000, message: 'staging done, prod waiting for its approval' });
  expect((await staging.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' }))?.data).toEqual({ v: '1' });
  expect(await prod.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' })).toBeUndefined();
  const text = formatFleet(waiting.status!.fleet!);
  expect(text).toContain(`fleet release shop/shop@${sha.slice(0, 12)}: Progressing, wave 2/2 (prod)`);
  expect(text).toMatch(/2 +prod +waiting on its gates +… waiting for approval of wave 2\/2 \(prod\): kgitops approve <app> --wave 2/);
  expect(text).toMatch(new RegExp(`staging +staging +${sha.slice(0, 12)} +${sha.slice(0, 12)} +Synced +Current +done`));
  // What `kgitops approve shop/shop --wave 2` does.
  const { state, by } = await issueFleetCommand(management, { namespace: 'shop', name: 'shop' }, { action: 'approve', wave: 1 }, Date.now());
  expect(state.id).toBe(`shop/shop@${sha.slice(0, 12)}`);
  await expect(issueFleetCommand(management, { namespace: 'shop', name: 'shop' }, { action: 'approve', wave: 5 }, Date.now())).rejects.toThrow(`fleet release shop/shop@${sha.slice(0, 12)} has waves 1 to 2, not 6`);
  const app = await waitFor(async () => {
    const a = await read();
    return a?.status?.fleet?.release.phase === 'Completed' ? a : undefined;
  }, { timeoutMs: 60_000, message: 'the fleet release completed' });
  expect(app.status!.fleet!.release.approvals).toEqual([expect.objectContaining({ wave: 1, by: by.username })]);
  expect(app.status).toMatchObject({ sync: 'Synced', health: 'Current', commit: sha.slice(0, 12), message: `fleet release shop/shop@${sha.slice(0, 12)} completed: every wave has commit ${sha.slice(0, 12)}` });
  expect(app.status!.fleet!.clusters.map((c) => [c.name, c.commit])).toEqual([['prod', sha], ['staging', sha]]);
  expect((await prod.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' }))?.data).toEqual({ v: '1' });
  // Each transition is an Event on the App.
  const reasons = async () => (await management.list('v1', 'Event', { namespace: 'shop' })).items.map((e) => e.reason as string).filter((r) => r.startsWith('Fleet'));
  await waitFor(async () => (await reasons()).includes('FleetCompleted') || undefined, { timeoutMs: 10_000, message: `the FleetCompleted Event; Events: ${(await reasons()).join(', ')}` });
  expect((await reasons()).sort()).toEqual(['FleetCompleted', 'FleetStarted', 'FleetWaveCompleted', 'FleetWaveCompleted', 'FleetWaveStarted', 'FleetWaveStarted']);
  // Nothing of the app in the management cluster: neither the object nor the plan.
  expect(await management.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' })).toBeUndefined();
}, 90_000);

/**
 * A fleet in the dashboard, in Chromium: the controller over a simulated management cluster and
 * two simulated workload clusters. The App's page shows the waves, each cluster's commit and what
 * prod waits for; "Approve wave 2" with a token sends the commit to prod, and the page follows
 * live.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SimCluster } from '../../engine/cluster/sim/index.js';
import type { KubeObject } from '../../engine/cluster/types.js';
import { realClock } from '../../engine/clock.js';
import { APP_API_VERSION, APP_KIND, type AppObject, appCrd } from '../../engine/controller/app-resource.js';
import { Controller } from '../../engine/controller/controller.js';
import { controllerDashboard } from '../../engine/controller/dashboard.js';
import { LABEL_CLUSTER } from '../../engine/fleet/clusters.js';
import type { FleetStatus } from '../../engine/fleet/runner.js';
import { createLogger } from '../../engine/log.js';
import { localTokenAuth } from '../../engine/ui/auth.js';
import { startUiServer, type UiServer } from '../../engine/ui/server.js';
import { configMap, GitApp } from '../fixtures/git-app.js';
import { waitFor } from '../fixtures/wait.js';
import { launchChromium } from './harness.js';

const TOKEN = 'fleet-ui-token-not-a-secret';
const KUBECONFIG = 'clusters: [{ name: c, cluster: { server: "https://127.0.0.1:1" } }]\ncontexts: [{ name: c, context: { cluster: c, user: u } }]\nusers: [{ name: u, user: { token: t } }]\ncurrent-context: c\n';
const cleanup: (() => Promise<void> | void)[] = [];
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let ui: UiServer;
let management: SimCluster;
let prod: SimCluster;
let sha: string;

beforeAll(async () => {
  chromium = await launchChromium();
  const cache = mkdtempSync(join(tmpdir(), 'kgitops-fleet-ui-'));
  const repo = new GitApp();
  management = new SimCluster({ clock: realClock, namespaces: ['default', 'kgitops-system', 'shop'] });
  const staging = new SimCluster({ clock: realClock, namespaces: ['default', 'shop'] });
  prod = new SimCluster({ clock: realClock, namespaces: ['default', 'shop'] });
  cleanup.push(() => rmSync(cache, { recursive: true, force: true }), () => repo.remove(), () => management.stop(), () => staging.stop(), () => prod.stop());
  await management.apply(appCrd() as unknown as KubeObject, { fieldManager: 'test' });
  for (const env of ['staging', 'prod']) {
    await management.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: env, namespace: 'kgitops-system', labels: { [LABEL_CLUSTER]: 'true', env } }, data: { kubeconfig: Buffer.from(KUBECONFIG).toString('base64') } } as unknown as KubeObject, { fieldManager: 'test' });
  }
  const fleet = { apiVersion: 'kgitops.io/v1alpha1', kind: 'FleetPlan', metadata: { name: 'fleet' }, spec: { version: 1, waves: [
    { name: 'staging', clusters: { matchLabels: { env: 'staging' } }, gates: [] },
    { name: 'prod', clusters: { matchLabels: { env: 'prod' } }, gates: [{ type: 'approval' }] },
  ] } };
  sha = repo.commit({ namespace: 'shop', objects: [fleet, configMap('a', { v: '1' })] }, 'fleet');
  const log = createLogger({ level: 'silent' });
  const controller = new Controller({
    cluster: management, clock: realClock, log, cacheDir: cache, allowLocalRepos: true, allowControllerIdentity: true,
    sandbox: { unsafe: false, limits: {} }, typecheck: false, clustersNamespace: 'kgitops-system', connectCluster: (c) => (c.name === 'prod' ? prod : staging),
  });
  const running = controller.run();
  cleanup.push(async () => { await controller.stop(); await running.catch(() => {}); });
  ui = await startUiServer({ port: 0, backend: controllerDashboard(controller, { cluster: management, clock: realClock }), auth: localTokenAuth(TOKEN, { username: 'alice@example.com', groups: [], simulated: true }), log });
  cleanup.push(() => ui.close());
  await management.apply({ apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: 'shop', namespace: 'shop' }, spec: { source: { repo: repo.dir, interval: '1h' } } } as unknown as KubeObject, { fieldManager: 'test' });
  await waitFor(async () => ((await management.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: 'shop', name: 'shop' })) as unknown as AppObject & { status?: { fleet?: FleetStatus } })?.status?.fleet?.release.waves[1]?.gates['1/0']?.status === 'Pending' || undefined,
    { timeoutMs: 60_000, message: 'staging done, prod waiting for its approval' });
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  for (const c of cleanup.reverse()) await c();
});

it('shows the waves and each cluster\'s commit; Approve wave 2 sends the commit to prod, live', async () => {
  const page = await (await chromium.browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => void d.accept());
  await page.goto(`${ui.url}/apps/shop/shop`);
  // Polled with evaluate: waitForFunction's string form is an eval the page's CSP refuses (Chromium 156).
  await expect.poll(() => page.evaluate("document.getElementById('live')?.textContent"), { timeout: 10_000 }).toBe('live');
  const fleet = page.locator('section[data-fleet-release]');
  expect(await fleet.locator('h3').textContent()).toMatch(new RegExp(`fleet release shop/shop@${sha.slice(0, 12)} Progressing wave 2 of 2`));
  expect(await fleet.locator('li[data-wave="1"]').textContent()).toMatch(/Wave 1 of 2: staging done/);
  expect(await fleet.locator('li[data-wave="2"]').textContent()).toMatch(/waiting on its gates[\s\S]*Pending\s*waiting for approval of wave 2\/2 \(prod\)/);
  const row = (name: string) => fleet.locator('tbody tr', { has: page.locator(`td:text-is("${name}")`) });
  expect((await row('staging').locator('td').allTextContents()).slice(0, 4)).toEqual(['staging', 'staging', sha.slice(0, 12), sha.slice(0, 12)]);
  expect((await row('prod').locator('td').allTextContents()).slice(0, 4)).toEqual(['prod', 'prod', '-', '-']);
  // Waiting on the approval, the page holds still: a fleet reconciled again with nothing new
  // redraws nothing (its buttons were detached under the pointer before).
  const before = Number(await page.evaluate('document.body.dataset.refreshed || 0'));
  await new Promise((r) => setTimeout(r, 4000));
  expect(Number(await page.evaluate('document.body.dataset.refreshed || 0')) - before).toBeLessThanOrEqual(1);
  // Without a token: refused, nothing changes.
  await fleet.getByRole('button', { name: 'Approve wave 2' }).click();
  await expect.poll(() => page.locator('#flash').textContent()).toMatch(/Refused \(401\)/);
  await page.getByText('Token for release actions').click();
  await page.getByLabel('Bearer token').fill(TOKEN);
  await page.getByRole('button', { name: 'Use token' }).click();
  await page.locator('section[data-fleet-release]').getByRole('button', { name: 'Approve wave 2' }).click();
  await expect.poll(() => page.locator('#flash').textContent()).toMatch(/^approved wave 2 of fleet release shop\/shop@/);
  await expect.poll(() => page.locator('section[data-fleet-release] h3 .status').textContent(), { timeout: 30_000 }).toBe('Completed');
  expect((await page.locator('section[data-fleet-release] tbody tr', { has: page.locator('td:text-is("prod")') }).locator('td').allTextContents()).slice(0, 4)).toEqual(['prod', 'prod', sha.slice(0, 12), sha.slice(0, 12)]);
  expect(await page.locator('section[data-fleet-release] li[data-wave="2"]').textContent()).toMatch(/approved by alice@example\.com/);
  expect((await prod.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' }))?.data).toEqual({ v: '1' });
  expect(errors).toEqual([]);
});

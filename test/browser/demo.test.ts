/**
 * `npm start` itself in Chromium: the demo (the controller on the simulated cluster, with the
 * examples as an App) prints its dashboard's address, and its own release of the cart appears
 * there step by step, the bake counting down live.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchChromium } from './harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let child: ChildProcess;
let out = '';
let chromium: Awaited<ReturnType<typeof launchChromium>>;

beforeAll(async () => {
  chromium = await launchChromium();
  child = spawn(process.execPath, ['bin/kgitops.mjs', 'demo', '--interval', '1h', '--ui-port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
}, 60_000);

afterAll(async () => {
  await chromium?.close();
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await exited;
  }
});

it('npm start: the demo\'s release of the cart appears in the dashboard it prints, zone by zone, the bake counting down', async () => {
  const deadline = Date.now() + 150_000;
  while (!/release shop\/cart@\S+ started/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 250));
  const url = /dashboard: (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
  expect(url, out.slice(-2000)).toBeTruthy();
  expect(out).toMatch(/release shop\/cart@\S+ started: 3 step\(s\)/);
  const page = await (await chromium.browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${url}/apps/kgitops-demo/shop`);
  // Polled with evaluate: waitForFunction's string form is an eval the page's CSP refuses (Chromium 156).
  await expect.poll(() => page.evaluate("document.getElementById('live')?.textContent"), { timeout: 10_000 }).toBe('live');
  expect(await page.locator('header .sim').textContent()).toMatch(/^SIMULATION/);
  const release = page.locator('section.release', { hasText: 'UnitedDeployment shop/cart' });
  await expect.poll(() => release.count(), { timeout: 30_000 }).toBe(1);
  expect(await release.locator('li.step').count()).toBe(3);
  expect(await release.locator('li.step[data-step="1"] h4').textContent()).toMatch(/Step 1 of 3: to zone-a: 100%/);
  // Step 1: once zone-a's pods are ready, the bake counts down, live, in the page.
  const bake = release.locator('li.step.current [data-countdown]');
  await expect.poll(() => bake.count(), { timeout: 60_000 }).toBe(1);
  expect(await release.locator('li.step.current').textContent()).toMatch(/by subset: zone-a 3 of 3 may run the new revision \(partition 0[^)]*\); zone-b 0 of 3 may run the new revision \(partition 3/);
  const first = await bake.textContent();
  await expect.poll(() => bake.textContent(), { timeout: 5_000 }).not.toBe(first);
  expect(await bake.textContent()).toMatch(/^in 1[45]m\d\ds$/);
  // What the commit changed: the cart's image, marked.
  expect(await page.locator('details.change', { hasText: 'UnitedDeployment' }).locator('.fields li', { hasText: 'release: image' }).textContent()).toMatch(/cart:\d+\.\d+\.\d+ → registry\.example\.com\/shop\/cart:\d+\.\d+\.\d+/);
  expect(errors).toEqual([]);
}, 200_000);

/**
 * The dashboard in a real headless Chromium, over the controller on the simulated cluster (as
 * `npm start` runs it): the Apps table and its filter; an App's release with its steps and
 * gates; approve refused without a token, then given with one, and the next step appearing live
 * (server-sent events, no reload); pause and resume.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DashboardFixture, NS, startDashboardFixture, WEB as web } from './fixture.js';
import { launchChromium } from './harness.js';

const TOKEN = 'ui-test-token-not-a-secret';
let fx: DashboardFixture;
let chromium: Awaited<ReturnType<typeof launchChromium>>;
const releaseState = () => fx.releaseState();

beforeAll(async () => {
  chromium = await launchChromium();
  fx = await startDashboardFixture(TOKEN);
}, 120_000);

afterAll(async () => {
  await chromium?.close();
  await fx?.stop();
});

async function open(path: string): Promise<Page> {
  const page = await (await chromium.browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${fx.url}${path}`);
  // The page's script runs in the browser (no DOM types here): the events stream is open.
  await page.waitForFunction("document.getElementById('live')?.textContent === 'live'", undefined, { timeout: 10_000 });
  (page as Page & { errors: string[] }).errors = errors;
  return page;
}

describe('the dashboard in Chromium', () => {
  it('lists the Apps, filters them, and links to each', async () => {
    const page = await open('/');
    const row = page.locator('#apps tbody tr', { hasText: 'shop' });
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.locator('td').nth(4).textContent()).toMatch(/Current|Progressing|PausedAtPartition/);
    // The filter is labelled and hides what does not match.
    await page.getByLabel('Filter').fill('no-such-app');
    expect(await row.isHidden()).toBe(true);
    await page.getByLabel('Filter').fill('shop');
    expect(await row.isVisible()).toBe(true);
    await row.getByRole('link', { name: 'shop' }).click();
    await page.waitForURL(`${fx.url}/apps/${NS}/shop`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(`App ${NS}/shop`);
    expect((page as Page & { errors: string[] }).errors).toEqual([]);
  });

  it('shows the release step by step; approve is refused without a token, and with one the next step appears live', async () => {
    const page = await open(`/apps/${NS}/shop`);
    const release = page.locator('section.release', { hasText: 'CloneSet shop/web' });
    await expect.poll(() => release.count()).toBe(1);
    expect(await release.locator('li.step.current').getAttribute('data-step')).toBe('1');
    expect(await release.locator('li.step.current').textContent()).toMatch(/to 50% \(2 pods\)/);
    expect(await release.locator('li.step.current [data-gate="0/1"]').textContent()).toMatch(/Pending\s*approval/);
    expect(await release.locator('li.step[data-step="2"]').textContent()).toMatch(/waiting/);
    page.on('dialog', (d) => void d.accept());

    // No token: refused, and nothing changes.
    await release.getByRole('button', { name: 'Approve step 1' }).click();
    await expect.poll(() => page.locator('#flash').textContent()).toMatch(/Refused \(401\)/);
    expect((await releaseState())!.approvals).toEqual([]);

    // With the token: the cluster records alice as the approver, and the page moves to step 2
    // by itself (a marker on the window shows the page was never reloaded).
    await page.evaluate('window.marker = 42');
    await page.getByText('Token for release actions').click();
    await page.getByLabel('Bearer token').fill(TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    await release.getByRole('button', { name: 'Approve step 1' }).click();
    await expect.poll(() => page.locator('#flash').textContent()).toMatch(/approved step 1 of release/);
    await expect.poll(async () => (await releaseState())?.step, { timeout: 30_000 }).toBe(1);
    expect((await releaseState())!.approvals[0]).toMatchObject({ step: 0, by: 'alice@example.com' });
    await expect.poll(() => page.locator('section.release li.step.current').getAttribute('data-step'), { timeout: 15_000 }).toBe('2');
    expect(await page.locator('section.release li.step[data-step="1"]').textContent()).toMatch(/approved by alice@example\.com/);
    expect(await page.evaluate('window.marker')).toBe(42);
    expect((page as Page & { errors: string[] }).errors).toEqual([]);
  });

  it('pause and resume, from the page, live', async () => {
    const page = await open(`/apps/${NS}/shop`);
    page.on('dialog', (d) => void d.accept());
    await page.getByText('Token for release actions').click();
    await page.getByLabel('Bearer token').fill(TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    const release = page.locator('section.release', { hasText: 'CloneSet shop/web' });
    await release.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(async () => (await releaseState())?.phase, { timeout: 30_000 }).toBe('Paused');
    await expect.poll(() => page.locator('section.release h3 .status').first().textContent(), { timeout: 15_000 }).toBe('Paused');
    expect((await releaseState())!.pause?.by).toBe('alice@example.com');
    await page.locator('section.release').getByRole('button', { name: 'Resume' }).click();
    await expect.poll(async () => (await releaseState())?.phase, { timeout: 30_000 }).toBe('Progressing');
    await expect.poll(() => page.locator('section.release h3 .status').first().textContent(), { timeout: 15_000 }).toBe('Progressing');
  });

  it('reads well on a phone: nothing wider than the screen but the tables, which scroll', async () => {
    const page = await (await chromium.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true })).newPage();
    await page.goto(`${fx.url}/apps/${NS}/shop`);
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    expect(await page.getByRole('button', { name: /Approve step/ }).isVisible()).toBe(true);
  });

  it('bound to every interface, it shows nothing without a token; a token the cluster accepts opens it', async () => {
    expect((await fetch(`${fx.exposedUrl}/api/apps`)).status).toBe(401);
    expect((await fetch(`${fx.exposedUrl}/events`)).status).toBe(401);
    expect((await fetch(`${fx.exposedUrl}/api/apps`, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`${fx.exposedUrl}/api/apps`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    // A browser: the token form also opens a reading session (an HttpOnly, SameSite=Strict cookie).
    const page = await (await chromium.browser.newContext()).newPage();
    const first = await page.goto(`${fx.exposedUrl}/`);
    expect(first?.status()).toBe(401);
    await page.getByText('Token for release actions').click();
    await page.getByLabel('Bearer token').fill(TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    await expect.poll(async () => (await page.context().cookies()).map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([['kgitops_token', true, 'Strict']]);
    expect((await page.goto(`${fx.exposedUrl}/`))?.status()).toBe(200);
    expect(await page.locator('#apps tbody tr', { hasText: 'shop' }).count()).toBe(1);
  });

  it('refuses a write from another origin, or without JSON, before it reads a token', async () => {
    const post = (headers: Record<string, string>) => fetch(`${fx.url}/api/release-commands`, {
      method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, ...headers },
      body: JSON.stringify({ app: `${NS}/shop`, workload: web, action: 'abort' }),
    });
    expect((await post({ 'Content-Type': 'application/json', Origin: 'https://evil.example' })).status).toBe(403);
    expect((await post({ 'Content-Type': 'text/plain' })).status).toBe(415);
    expect((await post({ 'Content-Type': 'application/json', Authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await releaseState())!.phase).toBe('Progressing');
  });
});

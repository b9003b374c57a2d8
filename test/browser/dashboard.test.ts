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
  // Polled with evaluate: waitForFunction's string form is an eval the page's CSP refuses (Chromium 156).
  await expect.poll(() => page.evaluate("document.getElementById('live')?.textContent"), { timeout: 10_000 }).toBe('live');
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

  it('shows what the applied commit changed, the image marked as what the release acts on', async () => {
    const page = await open(`/apps/${NS}/shop`);
    const web = page.locator('details.change', { hasText: 'CloneSet' });
    expect(await page.getByRole('heading', { name: 'Last applied change' }).isVisible()).toBe(true);
    expect(await page.locator('h2:has-text("Last applied change") + p').textContent()).toMatch(/^commit [0-9a-f]{12} → commit [0-9a-f]{12}: 1 changed, 0 added, 0 removed, 0 unchanged/);
    // Open (it has a release-relevant field), with the field and the release it starts.
    expect(await web.getAttribute('open')).not.toBeNull();
    expect(await web.locator('.fields li', { hasText: 'release: image' }).textContent()).toBe('release: image ~ spec.template.spec.containers[name=main].image: nginx:1.25.0 → nginx:1.25.1');
    expect(await web.textContent()).toMatch(/The release it starts/);
    // The YAML diff is one click (or Enter) away.
    await web.getByText('YAML diff').click();
    expect(await web.locator('pre.diff .add').first().textContent()).toMatch(/image: nginx:1\.25\.1/);
  });

  it('works from the keyboard alone: every stop shows its focus, and a release action asks first', async () => {
    const page = await open(`/apps/${NS}/shop`);
    let dialog: string | undefined;
    page.on('dialog', (d) => { dialog = d.message(); void d.dismiss(); });
    const before = (await releaseState())!;
    const stops: string[] = [];
    for (let i = 0; i < 60; i++) {
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(`(() => { const e = document.activeElement; const s = getComputedStyle(e);
        return { text: (e.textContent || e.getAttribute('aria-label') || e.id || e.tagName).trim().slice(0, 40), outline: s.outlineStyle !== 'none' && s.outlineWidth !== '0px' }; })()`) as { text: string; outline: boolean };
      expect(focused.outline, `focus on "${focused.text}" is visible`).toBe(true);
      stops.push(focused.text);
      if (focused.text === 'Pause') break;
    }
    expect(stops.at(-1), `Tab stops: ${stops.join(' | ')}`).toBe('Pause');
    expect(stops).toContain('Token for release actions');
    await page.keyboard.press('Enter');
    await expect.poll(() => dialog).toMatch(/^Pause release shop\/web@/);
    // Dismissed: nothing was sent.
    await new Promise((r) => setTimeout(r, 500));
    expect((await releaseState())!.phase).toBe(before.phase);
    // A live refresh (the App changed) redraws the page; the focus stays on the same button.
    const refreshed = Number(await page.evaluate('document.body.dataset.refreshed || 0'));
    await fx.cluster.apply({ apiVersion: 'kgitops.io/v1alpha1', kind: 'App', metadata: { name: 'shop', namespace: NS, annotations: { 'example.com/touched': String(Date.now()) } } } as never, { fieldManager: 'test-touch' });
    await expect.poll(async () => Number(await page.evaluate('document.body.dataset.refreshed || 0')), { timeout: 10_000 }).toBeGreaterThan(refreshed);
    expect(await page.evaluate('document.activeElement.textContent')).toBe('Pause');
  });

  it('keeps the keyboard focus when a Tab lands while a live refresh is being fetched', async () => {
    const page = await open(`/apps/${NS}/shop`);
    let text = '';
    for (let i = 0; i < 20 && text !== 'Token for release actions'; i++) {
      await page.keyboard.press('Tab');
      text = String(await page.evaluate('document.activeElement.textContent.trim()'));
    }
    expect(text).toBe('Token for release actions');
    // The page's fragment fetch answers late, so the next Tab moves the focus into <main>
    // while the refresh is under way.
    await page.evaluate('(() => { const f = window.fetch; window.fetch = (...a) => new Promise((r) => setTimeout(() => r(f(...a)), 1500)); })()');
    const refreshed = Number(await page.evaluate('document.body.dataset.refreshed || 0'));
    await fx.cluster.apply({ apiVersion: 'kgitops.io/v1alpha1', kind: 'App', metadata: { name: 'shop', namespace: NS, annotations: { 'example.com/touched': `late-${Date.now()}` } } } as never, { fieldManager: 'test-touch' });
    await new Promise((r) => setTimeout(r, 500));
    await page.keyboard.press('Tab');
    const inMain = await page.evaluate('document.getElementById("main").contains(document.activeElement) ? document.activeElement.outerHTML.slice(0, 80) : ""');
    expect(inMain).not.toBe('');
    await expect.poll(async () => Number(await page.evaluate('document.body.dataset.refreshed || 0')), { timeout: 10_000 }).toBeGreaterThan(refreshed);
    const after = await page.evaluate('(() => { const e = document.activeElement; return { inMain: document.getElementById("main").contains(e), html: e.outerHTML.slice(0, 80), outline: getComputedStyle(e).outlineStyle !== "none" }; })()') as { inMain: boolean; html: string; outline: boolean };
    expect(after.html).toBe(inMain);
    expect(after.inMain && after.outline).toBe(true);
  });

  it('keeps every visible text at a contrast of at least 4.5:1 with its background (WCAG AA)', async () => {
    for (const path of ['/', `/apps/${NS}/shop`]) {
      const page = await open(path);
      const low = await page.evaluate(`(() => {
        const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
        const lum = (c) => { const [r, g, b] = rgb(c).slice(0, 3).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
        const background = (el) => { for (let e = el; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor; const v = rgb(c); if (v.length === 3 || (v.length === 4 && v[3] > 0)) return c; } return 'rgb(255, 255, 255)'; };
        const out = []; let checked = 0;
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          const el = n.parentElement;
          if (!n.textContent.trim() || !el || el.closest('svg, script, style') || el.getClientRects().length === 0) continue;
          const a = lum(getComputedStyle(el).color); const b = lum(background(el));
          const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
          checked++;
          if (ratio < 4.5) out.push(el.tagName + '.' + el.className + ' "' + n.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
        }
        return { checked, low: out };
      })()`) as { checked: number; low: string[] };
      expect(low.checked).toBeGreaterThan(20);
      expect(low.low, path).toEqual([]);
    }
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
    // The refused page reloads itself once the session is open.
    await expect.poll(() => page.locator('#apps tbody tr', { hasText: 'shop' }).count(), { timeout: 10_000 }).toBe(1);
    await page.waitForLoadState();
    expect((await page.goto(`${fx.exposedUrl}/`))?.status()).toBe(200);
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

  it('after a controller restart, the change is rendered again when the page asks for it', async () => {
    const page = await open(`/apps/${NS}/shop`);
    await fx.restartController();
    const details = async () => ((await (await fetch(`${fx.url}/api/apps/${NS}/shop`)).json()) as { change?: { change?: { objects: { release: { aspect: string; after: unknown }[] }[] }; recalling?: boolean } }).change;
    // The new controller did not apply the commit: asking renders its predecessor again.
    await expect.poll(async () => (await details())?.change?.objects[0]?.release[0], { timeout: 60_000 }).toMatchObject({ aspect: 'image', after: 'nginx:1.25.1' });
    await page.reload();
    // Polled with evaluate: waitForFunction's string form is an eval the page's CSP refuses (Chromium 156).
  await expect.poll(() => page.evaluate("document.getElementById('live')?.textContent"), { timeout: 10_000 }).toBe('live');
    expect(await page.locator('details.change', { hasText: 'CloneSet' }).locator('.fields li', { hasText: 'release: image' }).count()).toBe(1);
  });
});

/**
 * Regenerates docs/dashboard-release.png, the README's picture of a release in progress: the
 * dashboard over the simulated cluster (test/browser/fixture.ts), step 1 approved, step 2 baking,
 * taken by Debian's headless Chromium at 1366×768.
 *
 *   npm run screenshot
 */
import { fileURLToPath } from 'node:url';
import { launchChromium } from './harness.js';
import { startDashboardFixture } from './fixture.js';
import { waitFor } from '../fixtures/wait.js';

const OUT = fileURLToPath(new URL('../../docs/dashboard-release.png', import.meta.url));
const TOKEN = 'screenshot-token';

async function main(): Promise<void> {
  const chromium = await launchChromium();
  const fx = await startDashboardFixture(TOKEN);
  try {
    const page = await (await chromium.browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
    page.on('dialog', (d) => void d.accept());
    await page.goto(`${fx.url}/apps/shop/shop`);
    await page.getByText('Token for release actions').click();
    await page.getByLabel('Bearer token').fill(TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.getByText('Token for release actions').click();
    await page.getByRole('button', { name: 'Approve step 1' }).click();
    // Step 2: its pods ready and the bake counting down.
    await waitFor(async () => ((await fx.releaseState())?.podsReadyAt && (await fx.releaseState())?.step === 1) || undefined, { timeoutMs: 60_000, message: 'step 2 baking' });
    // Polled with evaluate: waitForFunction's string form is an eval the page's CSP refuses.
    await waitFor(async () => (await page.evaluate("document.querySelector('section.release li.step.current [data-countdown]') !== null")) || undefined, { timeoutMs: 15_000, message: 'the bake countdown' });
    await page.evaluate("document.getElementById('flash').textContent = ''");
    await page.screenshot({ path: OUT, fullPage: false });
    process.stdout.write(`wrote ${OUT}\n`);
  } finally {
    await chromium.close();
    await fx.stop();
  }
}

main().catch((e) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });

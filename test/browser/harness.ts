/**
 * Debian's Chromium, headless, driven by playwright-core (which never downloads a browser). The
 * flags keep it off the network: this machine's network is closed, and without them Chromium
 * keeps trying Google's hosts. Not installed: the test fails saying how to install it (never a
 * skip).
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = process.env.KGITOPS_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<{ browser: Browser; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM)) {
    const how = process.env.CI === 'true'
      ? 'CI=true: .ci/run installs it with test/browser/install.sh (see test-results/browser-install.log)'
      : 'install it with: bash test/browser/install.sh (Debian\'s chromium package, as root)';
    throw new Error(`Chromium was not found at ${CHROMIUM}; ${how}`);
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // A fresh profile each launch (playwright's own temporary one).
  return { browser, close: () => browser.close() };
}

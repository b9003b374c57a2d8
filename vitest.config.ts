import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Four projects: unit tests need nothing; integration tests share one real kube-apiserver
// (+ controller-manager); e2e tests add kwok nodes and the real kruise-manager; browser tests
// drive the dashboard in Debian's headless Chromium (test/browser/install.sh).
// The control planes are started by the globalSetup files in test/cluster/ (see its README).
// `kruise-gitops` (the tests' and examples' imports of the package) resolves to its .ts sources
// here, as in every process the engine starts from this checkout (package.json exports).
const conditions = ['kruise-gitops-source', ...defaultServerConditions];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/cluster/global-setup-integration.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/cluster/global-setup-e2e.ts'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});

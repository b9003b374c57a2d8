import { defineConfig } from 'vitest/config';

// Three projects: unit tests need nothing; integration tests share one real kube-apiserver
// (+ controller-manager); e2e tests add kwok nodes and the real kruise-manager.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
    ],
  },
});

/**
 * The shop's policies: the built-in pack, tuned, and one rule of our own. `kgitops synth`,
 * `kgitops diff` and the sync engine all run them; an error blocks the commit.
 */
import { definePolicy, policySet } from 'kruise-gitops/policy';

/** Dashboards, budgets and the logging SidecarSet find pods by their `app` label. */
const appLabel = definePolicy({
  name: 'app-label',
  description: 'long-running workloads label their pods with app',
  kinds: ['CloneSet', 'AdvancedStatefulSet', 'AdvancedDaemonSet'],
  check(workload, ctx) {
    const labels = workload.manifest.spec.template.metadata?.labels ?? {};
    if (!labels.app) {
      ctx.report('its pods have no app label', {
        path: 'spec.template.metadata.labels.app',
        hint: 'add podMetadata: { labels: { app: "<name>" } } to the construct',
      });
    }
  },
});

export default policySet({
  builtin: {
    // Sidecars are injected into every shop pod: only our own registry.
    sidecarRegistries: { registries: ['registry.example.com'] },
    // The storefront and the cart have budgets; zookeeper (3) is below the bar.
    disruptionBudget: { above: 3 },
    maxUnavailable: { max: '25%' },
  },
  policies: [appLabel],
});

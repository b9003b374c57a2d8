/**
 * What every commit must pass before it is applied: the built-in pack (see `npx kgitops policies`)
 * and rules of your own. An error-level violation blocks the commit in synth, diff and sync.
 */
import { definePolicy, policySet } from 'kruise-gitops/policy';

/** Dashboards and budgets find pods by their `app` label. */
const appLabel = definePolicy({
  name: 'app-label',
  description: 'long-running workloads label their pods with app',
  kinds: ['CloneSet', 'AdvancedStatefulSet', 'AdvancedDaemonSet'],
  check(workload, ctx) {
    if (!workload.manifest.spec.template.metadata?.labels?.app) {
      ctx.report('its pods have no app label', {
        path: 'spec.template.metadata.labels.app',
        hint: 'add podMetadata: { labels: { app: "<name>" } } to the construct',
      });
    }
  },
});

export default policySet({
  builtin: {
    // A release must pass a bake, metric, http or approval gate before half the pods update.
    releaseGated: { beyond: '50%' },
  },
  policies: [appLabel],
});

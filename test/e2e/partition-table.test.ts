/**
 * Kruise's arithmetic on the real kruise-manager: the partition table (test/fixtures/
 * partition-table.ts) walked on the e2e control plane. Every replica count of one kind is created
 * at once and the partition moved through the step targets in lockstep; after each step the pods
 * Kruise updated (status.updatedReplicas and friends) must equal what the table, and so the
 * engine's arithmetic and the simulated cluster (test/unit/release/partition-table.test.ts), say.
 *
 * By default a representative part of the table runs (REPRESENTATIVE); KGITOPS_PARTITION_TABLE=full
 * runs all of it (the DaemonSet table then adds 100 kwok nodes).
 */
import { describe, expect, it } from 'vitest';
import { KubeCluster } from '../../engine/cluster/kube.js';
import type { KubeObject } from '../../engine/cluster/types.js';
import {
  INT_TARGETS, PERCENT_TARGETS, REPLICAS, REPRESENTATIVE, TABLE_KINDS, TABLE_TAINT, tableNodeLabels, walkTable,
} from '../fixtures/partition-table.js';
import { kubeconfigPath, waitFor, withNamespace } from '../cluster/harness.js';

const FULL = process.env.KGITOPS_PARTITION_TABLE === 'full';
const replicas = FULL ? REPLICAS : REPRESENTATIVE.replicas;
const percents = FULL ? PERCENT_TARGETS : REPRESENTATIVE.percents;
const ints = FULL ? INT_TARGETS : REPRESENTATIVE.ints;
/** A step that has not reached the table's count by then is recorded as it stands. */
const STEP_DEADLINE_MS = 30_000;

/** kwok nodes for the DaemonSet table, tainted so that no other test's pods land on them. */
async function tableNodes(cluster: KubeCluster, prefix: string, rs: readonly number[]): Promise<string[]> {
  const count = Math.max(...rs);
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (const [i, name] of names.entries()) {
    await cluster.apply({
      apiVersion: 'v1', kind: 'Node',
      metadata: { name, annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { type: 'kwok', 'kubernetes.io/hostname': name, ...tableNodeLabels(i, rs) } },
      spec: { taints: [TABLE_TAINT] },
    } as KubeObject, { fieldManager: 'kgitops-e2e' });
  }
  await waitFor(async () => {
    const nodes = (await cluster.list('v1', 'Node')).items.filter((n) => names.includes(n.metadata.name));
    return nodes.length === count && nodes.every((n) => n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')
      && !(n.spec?.taints ?? []).some((t: any) => t.key.startsWith('node.kubernetes.io/')));
  }, { timeoutMs: 60_000, message: `${count} table nodes Ready` });
  return names;
}

describe(`the partition table on the real kruise-manager (${FULL ? 'full' : 'representative'})`, () => {
  for (const kind of TABLE_KINDS) {
    // The DaemonSet's replica counts are nodes: without the full table, the small ones only.
    const rs = kind === 'DaemonSet' && !FULL ? replicas.filter((r) => r <= 10) : replicas;
    it(`${kind}: replicas ${rs.join(', ')}; targets ${percents.join(', ')} and ${ints.join(', ')}`, () => withNamespace(async (ns) => {
      const cluster = KubeCluster.load({ kubeconfig: kubeconfigPath() });
      const nodes = kind === 'DaemonSet' ? await tableNodes(cluster, `${ns}-n`.slice(0, 50), rs) : [];
      const started = Date.now();
      try {
        const rows = await walkTable({
          cluster, namespace: ns, kind, replicas: rs, percents, ints,
          async settle(done) {
            await waitFor(async () => done(), { timeoutMs: STEP_DEADLINE_MS, intervalMs: 500 }).catch(() => {});
          },
        });
        const steps = percents.length + ints.length;
        console.log(`[partition-table] ${kind}: ${rows.length} cases (${rs.length} workloads x ${steps} steps) in ${((Date.now() - started) / 1000).toFixed(1)} s; ${rows.filter((r) => r.updated !== r.expected).length} disagree`);
        expect(rows).toHaveLength(rs.length * steps);
        expect(rows.filter((r) => r.updated !== r.expected)).toEqual([]);
      } finally {
        if (kind === 'SidecarSet') {
          for (const s of (await cluster.list('apps.kruise.io/v1alpha1', 'SidecarSet')).items.filter((x) => x.metadata.name.startsWith(ns))) {
            await cluster.delete({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'SidecarSet', name: s.metadata.name }).catch(() => {});
          }
        }
        for (const n of nodes) await cluster.delete({ apiVersion: 'v1', kind: 'Node', name: n }).catch(() => {});
      }
    }), FULL ? 3_600_000 : 600_000);
  }
});

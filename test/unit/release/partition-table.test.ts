/**
 * The partition table (test/fixtures/partition-table.ts) against the engine's arithmetic and the
 * simulated cluster. The same table runs against the real kruise-manager in
 * test/e2e/partition-table.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../engine/clock.js';
import { SimCluster } from '../../../engine/cluster/sim/index.js';
import { expectedUpdated, holdPartition, stepPartition, type ReleaseKind, type Scale } from '../../../engine/release/plan.js';
import {
  allCases, INT_TARGETS, kruiseUpdated, PERCENT_TARGETS, REPLICAS, TABLE_KINDS, tableNodeLabels, udSubsets, walkTable, writtenPartition,
} from '../../fixtures/partition-table.js';

const scaleOf = (kind: ReleaseKind, replicas: number): Scale =>
  kind === 'UnitedDeployment' ? { total: replicas, subsets: udSubsets(replicas) } : { total: replicas };

describe('the engine computes what Kruise does, over the whole partition table', () => {
  it(`writes the partition Kruise expects and predicts the pods it updates (${allCases().length} cases)`, () => {
    const wrong: unknown[] = [];
    for (const c of allCases()) {
      const scale = scaleOf(c.kind, c.replicas);
      // What the release controller and `kgitops preview` write for the step, from the hold.
      const partition = stepPartition(c.kind, { target: c.target, gates: [] }, scale, holdPartition(c.kind, scale));
      const updated = expectedUpdated(c.kind, partition, scale);
      const want = { partition: writtenPartition(c.kind, c.replicas, c.target), updated: kruiseUpdated(c.kind, c.replicas, c.target) };
      if (JSON.stringify({ partition, updated }) !== JSON.stringify(want)) wrong.push({ ...c, engine: { partition, updated }, kruise: want });
    }
    expect(wrong).toEqual([]);
  });

  it('a 1-replica CloneSet canary (10%, 50%, 100%) updates its pod at the last step only, as Kruise does, and the release can complete', () => {
    const scale = { total: 1 };
    const updated = ['10%', '50%', '100%'].map((t) => expectedUpdated('CloneSet', stepPartition('CloneSet', { target: t, gates: [] }, scale), scale));
    expect(updated).toEqual([0, 0, 1]);
  });
});

describe('the simulated cluster updates the pods the table says', () => {
  for (const kind of TABLE_KINDS) {
    it(`${kind}: replicas ${REPLICAS.join(', ')}; targets ${PERCENT_TARGETS.length} percentages and ${INT_TARGETS.length} counts`, async () => {
      const clock = new FakeClock();
      const nodes = kind === 'DaemonSet'
        ? Array.from({ length: Math.max(...REPLICAS) }, (_, i) => ({ name: `node-${i}`, labels: tableNodeLabels(i, REPLICAS) }))
        : 3;
      const sim = new SimCluster({ clock, nodes });
      await sim.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'table' } }, { fieldManager: 'kgitops' });
      const rows = await walkTable({
        cluster: sim, namespace: 'table', kind, replicas: REPLICAS, percents: PERCENT_TARGETS, ints: INT_TARGETS,
        async settle(done) {
          for (let t = 0; t < 60_000 && !(await done()); t += 500) await clock.advance(500);
        },
      });
      sim.stop();
      expect(rows).toHaveLength(REPLICAS.length * (PERCENT_TARGETS.length + INT_TARGETS.length));
      expect(rows.filter((r) => r.updated !== r.expected)).toEqual([]);
      expect(sim.controllerErrors).toEqual([]);
    }, 300_000);
  }
});

/**
 * Leases on the real apiserver: server-side apply with a resourceVersion precondition lets one
 * of two racing replicas take a Lease and answers the other 409, every time.
 */
import { expect, it } from 'vitest';
import { KubeCluster } from '../../engine/cluster/kube.js';
import { realClock } from '../../engine/clock.js';
import { LeaseLock } from '../../engine/controller/lease.js';
import { kubeconfigPath, withNamespace } from '../cluster/harness.js';

it('of two replicas racing for a Lease (free, then released, then expired), exactly one takes it each time', () =>
  withNamespace(async (ns) => {
    const cluster = KubeCluster.load({ kubeconfig: kubeconfigPath() });
    const timing = { leaseDurationMs: 1_500, renewDeadlineMs: 1_000, retryPeriodMs: 200 };
    for (let round = 0; round < 10; round++) {
      const a = new LeaseLock(cluster, ns, `race-${round}`, 'replica-a', realClock, timing);
      const b = new LeaseLock(cluster, ns, `race-${round}`, 'replica-b', realClock, timing);
      // Free: both read it and write from that read.
      const first = await Promise.all([a.tryAcquireOrRenew(), b.tryAcquireOrRenew()]);
      expect(first.filter(Boolean), `round ${round}`).toHaveLength(1);
      const [holder, other] = first[0] ? [a, b] : [b, a];
      const live = await cluster.get({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: ns, name: `race-${round}` });
      expect(live?.spec.holderIdentity).toBe(holder.identity);
      // Released: the other takes it at once.
      await holder.release();
      expect(await other.tryAcquireOrRenew()).toBe(true);
      // Expired (its holder stopped renewing): both try again after the lease duration; one wins.
      await new Promise((r) => setTimeout(r, 200));
      expect(await holder.tryAcquireOrRenew()).toBe(false); // observed now, alive
      await new Promise((r) => setTimeout(r, 1_700));
      const again = await Promise.all([holder.tryAcquireOrRenew(), new LeaseLock(cluster, ns, `race-${round}`, 'replica-c', realClock, timing).tryAcquireOrRenew()]);
      // replica-c has just seen it for the first time: it waits its own lease duration; the one that watched it expire takes it.
      expect(again).toEqual([true, false]);
    }
  }), 120_000);

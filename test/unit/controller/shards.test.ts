/**
 * Leases and shards on the simulated cluster (a simulation: the real apiserver's answer to two
 * replicas racing for one Lease is tested in test/integration/leases.test.ts), with a fake clock:
 * who may hold a lease when, and how shards move when replicas come and go.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../engine/clock.js';
import { SimCluster } from '../../../engine/cluster/sim/index.js';
import { LeaseLock, microTime } from '../../../engine/controller/lease.js';
import { ShardManager, shardOf } from '../../../engine/controller/shards.js';
import { createLogger } from '../../../engine/log.js';

const NS = 'kgitops-system';
const log = createLogger({ level: 'silent' });

describe('a Lease held by one replica at a time', () => {
  it('one takes it; the other waits the whole lease duration after the last renewal, on its own clock', async () => {
    const clock = new FakeClock();
    const sim = new SimCluster({ clock, namespaces: ['default', NS] });
    const a = new LeaseLock(sim, NS, 'l', 'a', clock);
    const b = new LeaseLock(sim, NS, 'l', 'b', clock);
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(a.held()).toBe(true);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    // a stops renewing (killed). b sees the same renewal for 14 s: still a's.
    await clock.advance(14_000);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    // a's own view: past the renew deadline it no longer acts, before b may.
    expect(a.held()).toBe(false);
    await clock.advance(1_000);
    expect(await b.tryAcquireOrRenew()).toBe(true);
    const lease = await sim.get({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: NS, name: 'l' });
    expect(lease?.spec).toMatchObject({ holderIdentity: 'b', leaseDurationSeconds: 15, leaseTransitions: 1 });
    // a comes back: it reads the Lease again and finds it b's.
    expect(await a.tryAcquireOrRenew()).toBe(false);
  });

  it('a renewal keeps it; a release hands it over at once', async () => {
    const clock = new FakeClock();
    const sim = new SimCluster({ clock, namespaces: ['default', NS] });
    const a = new LeaseLock(sim, NS, 'l', 'a', clock);
    const b = new LeaseLock(sim, NS, 'l', 'b', clock);
    await a.tryAcquireOrRenew();
    for (let i = 0; i < 20; i++) {
      await clock.advance(2_000);
      expect(await a.tryAcquireOrRenew()).toBe(true);
      expect(await b.tryAcquireOrRenew()).toBe(false);
    }
    await a.release();
    expect(a.held()).toBe(false);
    expect(await b.tryAcquireOrRenew()).toBe(true);
  });

  it('of two replicas writing from the same read, only one gets it (the resourceVersion precondition)', async () => {
    const clock = new FakeClock();
    const sim = new SimCluster({ clock, namespaces: ['default', NS] });
    const a = new LeaseLock(sim, NS, 'l', 'a', clock);
    const b = new LeaseLock(sim, NS, 'l', 'b', clock);
    const got = await Promise.all([a.tryAcquireOrRenew(), b.tryAcquireOrRenew()]);
    expect(got.filter(Boolean)).toHaveLength(1);
    expect([a.held(), b.held()].filter(Boolean)).toHaveLength(1);
  });

  it('writes MicroTime with six fractional digits', () => {
    expect(microTime(Date.UTC(2026, 11, 3, 13, 30, 0, 123))).toBe('2026-12-03T13:30:00.123000Z');
  });
});

describe('shards', () => {
  it('an App\'s shard is a stable hash of namespace/name, spread over the shards', () => {
    expect(shardOf('team-a/shop', 16)).toBe(shardOf('team-a/shop', 16));
    const counts = new Array(8).fill(0);
    for (let i = 0; i < 800; i++) counts[shardOf(`team-${i % 40}/app-${i}`, 8)]++;
    for (const c of counts) expect(c).toBeGreaterThan(60);
  });

  /** Replicas on one simulated cluster and clock; records every shard each one gains and loses. */
  function replicas(shards: number) {
    const clock = new FakeClock();
    const sim = new SimCluster({ clock, namespaces: ['default', NS] });
    const events: string[] = [];
    const make = (id: string) => new ShardManager({
      cluster: sim, namespace: NS, identity: id, shards, clock, log,
      onAcquired: (s) => { events.push(`${id}+${s}`); },
      onLost: async (s) => { events.push(`${id}-${s}`); },
    });
    /** Holders of each shard, as the managers see themselves: never two at once. */
    const holders = (ms: ShardManager[]) => Array.from({ length: shards }, (_, s) => ms.filter((m) => m.holds(s)).map((m) => m.identity));
    return { clock, sim, events, make, holders };
  }

  it('three replicas share six shards two each; a killed one\'s shards go to the others after the lease duration, and only those move', async () => {
    const { clock, make, holders, events } = replicas(6);
    const [a, b, c] = [make('a'), make('b'), make('c')];
    await Promise.all([a.start(), b.start(), c.start()]);
    for (let t = 0; t < 20; t++) {
      await clock.advance(1_000);
      for (const h of holders([a, b, c])) expect(h.length).toBeLessThanOrEqual(1);
    }
    expect(holders([a, b, c]).every((h) => h.length === 1)).toBe(true);
    expect([a, b, c].map((m) => m.held().length).sort()).toEqual([2, 2, 2]);
    const before = holders([a, b, c]).map((h) => h[0]);
    // c dies: its timers stop, nothing is released.
    const cShards = c.held();
    (c as unknown as { stopped: boolean }).stopped = true;
    events.length = 0;
    let takenAt: number | undefined;
    const killedAt = clock.now();
    for (let t = 0; t < 30; t++) {
      await clock.advance(1_000);
      const h = holders([a, b]);
      if (takenAt === undefined && cShards.every((s) => h[s]!.length === 1)) takenAt = clock.now();
    }
    expect(takenAt! - killedAt).toBeLessThanOrEqual(15_000 + 2 * 2_000);
    expect(takenAt! - killedAt).toBeGreaterThanOrEqual(15_000);
    const after = holders([a, b]).map((h) => h[0]);
    // Only c's shards changed hands.
    for (let s = 0; s < 6; s++) if (before[s] !== 'c') expect(after[s]).toBe(before[s]);
    expect(events.filter((e) => e.includes('-'))).toEqual([]);
    expect([a, b].map((m) => m.held().length).sort()).toEqual([3, 3]);
    await a.stop();
    await b.stop();
  });

  it('a round slower than the renew deadline stops the shard\'s Apps; renewed again, the shard is taken anew (its Apps queued again)', async () => {
    const { clock, make, events } = replicas(2);
    const a = make('a');
    await a.start();
    for (let t = 0; t < 4; t++) await clock.advance(1_000);
    expect(a.held()).toEqual([0, 1]);
    // The rounds stall (a busy process, a slow apiserver): past the renew deadline a acts no more.
    const m = a as unknown as { timer?: { cancel(): void }; tick(): Promise<void>; schedule(): void };
    m.timer?.cancel();
    await clock.advance(11_000);
    expect(a.held()).toEqual([]);
    events.length = 0;
    // The next round renews both leases (nobody else took them): the shards are a's again, and
    // their Apps are queued again, as for a shard just taken.
    await m.tick();
    expect(a.held()).toEqual([0, 1]);
    expect(events.sort()).toEqual(['a+0', 'a+1']);
    m.schedule();
    await a.stop();
  });

  it('a replica that joins takes a share from the others, who give up only their surplus; one that stops hands over at once', async () => {
    const { clock, make, holders, events } = replicas(6);
    const [a, b] = [make('a'), make('b')];
    await Promise.all([a.start(), b.start()]);
    await clock.advance(10_000);
    expect([a, b].map((m) => m.held().length).sort()).toEqual([3, 3]);
    const before = holders([a, b]).map((h) => h[0]);
    events.length = 0;
    const c = make('c');
    await c.start();
    await clock.advance(10_000);
    expect([a, b, c].map((m) => m.held().length).sort()).toEqual([2, 2, 2]);
    // Two shards moved (one from each), to c.
    expect(events.filter((e) => e.includes('-')).length).toBe(2);
    expect(events.filter((e) => e.startsWith('c+')).length).toBe(2);
    const now = holders([a, b, c]).map((h) => h[0]);
    expect(now.filter((h, s) => h !== before[s]).every((h) => h === 'c')).toBe(true);
    // c stops cleanly: its shards are free at once, taken on the next rounds, not after 15 s.
    await c.stop();
    await clock.advance(5_000);
    expect([a, b].map((m) => m.held().length).sort()).toEqual([3, 3]);
    await a.stop();
    await b.stop();
  });

  it('one shard: one replica acts, the others stand by', async () => {
    const { clock, make } = replicas(1);
    const [a, b] = [make('a'), make('b')];
    await a.start();
    await b.start();
    await clock.advance(10_000);
    expect([a.held(), b.held()]).toEqual([[0], []]);
    await a.stop();
    await clock.advance(3_000);
    expect(b.held()).toEqual([0]);
    await b.stop();
  });
});

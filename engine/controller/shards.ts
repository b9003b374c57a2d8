/**
 * Splitting the Apps between replicas. An App belongs to one of N shards by a stable hash of
 * its namespace/name; each shard is a Lease (`kgitops-shard-<i>`) that one replica holds at a
 * time (lease.ts). Replicas announce themselves with a Lease of their own (`kgitops-replica-*`),
 * so each knows how many there are and holds its share: ceil(N / replicas) shards at most.
 *
 * Rebalancing moves whole shards, and only as many as it must: a replica that joins takes free
 * shards, the others give up only what they hold beyond their new share; a replica that dies
 * leaves its shards to expire, and the others take them up to their share. An App never changes
 * shard, so only the Apps of the shards that moved change replica.
 *
 * The order on giving up a shard is: stop its Apps (the caller's onLost resolves once no
 * reconcile of theirs is running), then release the Lease. Losing one (no renewal within the
 * renew deadline) stops them the same way, and every write for an App checks `holds()` first.
 */
import { createHash } from 'node:crypto';
import type { Cluster } from '../cluster/types.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import { DEFAULT_LEASE_TIMING, LEASE_API_VERSION, LeaseLock, type LeaseTiming } from './lease.js';

const LABEL_ROLE = 'kgitops.io/lease';

/** The shard of an App (namespace/name): FNV-1a of the key, so every replica computes the same. */
export function shardOf(key: string, shards: number): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(key, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
}

export const shardLeaseName = (shard: number) => `kgitops-shard-${shard}`;

export interface ShardOptions {
  /** The controller's own cluster (Leases are its, never a tenant's). */
  readonly cluster: Cluster;
  /** Where the Leases live (the controller's namespace). */
  readonly namespace: string;
  /** This replica, unique among the replicas (e.g. the pod name and a random suffix). */
  readonly identity: string;
  /** How many shards the Apps are split into; every replica must be given the same. */
  readonly shards: number;
  readonly clock: Clock;
  readonly log: Logger;
  readonly timing?: LeaseTiming;
  /** A shard is ours: its Apps may be reconciled. */
  readonly onAcquired: (shard: number) => void;
  /** A shard is no longer ours (lost or given up): resolve once none of its Apps is being reconciled. */
  readonly onLost: (shard: number) => Promise<void>;
}

export class ShardManager {
  private readonly leases: LeaseLock[];
  private readonly member: LeaseLock;
  private readonly owned = new Set<number>();
  private readonly timing: LeaseTiming;
  private timer?: TimerHandle;
  private ticks = 0;
  private stopped = false;
  private running?: Promise<void>;
  private replicas = 1;
  /** Shards being given up: not taken again until their Lease is released. */
  private readonly releasing = new Set<number>();
  /** Shards being stopped or given up. */
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly o: ShardOptions) {
    this.timing = o.timing ?? DEFAULT_LEASE_TIMING;
    this.leases = Array.from({ length: o.shards }, (_, i) => new LeaseLock(o.cluster, o.namespace, shardLeaseName(i), o.identity, o.clock, this.timing, { [LABEL_ROLE]: 'shard' }));
    const memberName = `kgitops-replica-${createHash('sha256').update(o.identity).digest('hex').slice(0, 12)}`;
    this.member = new LeaseLock(o.cluster, o.namespace, memberName, o.identity, o.clock, this.timing, { [LABEL_ROLE]: 'replica' });
  }

  /** Whether this replica may act for the App now (its shard's lease is held and fresh). */
  owns(appKey: string): boolean {
    return this.holds(shardOf(appKey, this.o.shards));
  }

  holds(shard: number): boolean {
    return this.owned.has(shard) && this.leases[shard]!.held();
  }

  shardOf(appKey: string): number {
    return shardOf(appKey, this.o.shards);
  }

  /** The shards held now, in order. */
  held(): number[] {
    return [...this.owned].filter((s) => this.holds(s)).sort((a, b) => a - b);
  }

  /** Replicas seen alive at the last tick (this one included). */
  get replicaCount(): number {
    return this.replicas;
  }

  get identity(): string {
    return this.o.identity;
  }

  /** Runs the first round now, then one every retry period until stop(). */
  async start(): Promise<void> {
    await this.tick();
    this.schedule();
  }

  /** Gives every shard up (its Apps stopped first) and the membership lease: the others take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.running?.catch(() => {});
    await Promise.all([...this.owned].map((s) => this.giveUp(s, 'stopping')));
    await Promise.all([...this.pending]);
    await this.member.release();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.o.clock.setTimer(this.timing.retryPeriodMs, () => {
      this.running = this.tick().catch((e) => this.o.log.warn(`shard leases: ${(e as Error).message}`)).finally(() => this.schedule());
    });
  }

  /** One round: announce ourselves, count the replicas, renew, give up the surplus, take our share. */
  private async tick(): Promise<void> {
    if (this.stopped) return;
    this.ticks++;
    await this.member.tryAcquireOrRenew().catch((e) => this.o.log.warn(`renewing the replica lease failed: ${(e as Error).message}`));
    const list = await this.o.cluster.list(LEASE_API_VERSION, 'Lease', { namespace: this.o.namespace, labelSelector: LABEL_ROLE }).catch(() => undefined);
    if (list) {
      const now = this.o.clock.now();
      const byName = new Map(list.items.map((l) => [l.metadata.name, l]));
      // Alive: renewed within a lease duration (of another host's clock: skew only changes the
      // count for a moment, never who holds a shard).
      const alive = list.items.filter((l) => l.metadata.labels?.[LABEL_ROLE] === 'replica' && l.spec?.holderIdentity
        && now - Date.parse(l.spec.renewTime ?? '') < (Number(l.spec.leaseDurationSeconds ?? 15) * 1000));
      this.replicas = Math.max(1, new Set([...alive.map((l) => String(l.spec.holderIdentity)), this.o.identity]).size);
      for (let i = 0; i < this.leases.length; i++) if (!this.owned.has(i)) this.leases[i]!.observe(byName.get(shardLeaseName(i)));
    }
    // Renew what we hold, all at once; a shard not renewed within the deadline is lost.
    await Promise.all([...this.owned].map(async (s) => {
      const lease = this.leases[s]!;
      // Past the renew deadline (a slow round), the fence has stopped the shard's Apps, and their
      // work items were dropped: renewed again, the shard is ours as if taken anew.
      const lapsed = !lease.held();
      const ok = await lease.tryAcquireOrRenew().catch((e) => {
        this.o.log.warn({ shard: s }, `renewing shard ${s} failed: ${(e as Error).message}`);
        return lease.held();
      });
      if (!ok || !lease.held()) this.lose(s);
      else if (lapsed && this.owned.has(s)) {
        this.o.log.warn({ shard: s }, `shard ${s} went unrenewed past the renew deadline, and is renewed again: its Apps are queued again`);
        this.o.onAcquired(s);
      }
    }));
    const share = Math.ceil(this.o.shards / this.replicas);
    // Surplus: the highest shards go (any choice moves the same number of Apps).
    for (const s of [...this.owned].sort((a, b) => b - a).slice(0, Math.max(0, this.owned.size - share))) this.giveUp(s, `rebalancing: ${this.replicas} replicas, a share of ${share} shard(s)`);
    // Our share. Not in the first round: the other replicas' announcements may not be visible yet.
    if (this.ticks === 1 && this.o.shards > 1) return;
    const start = shardOf(this.o.identity, this.o.shards);
    for (let k = 0; k < this.o.shards && this.owned.size < share && !this.stopped; k++) {
      const s = (start + k) % this.o.shards;
      if (this.owned.has(s) || this.releasing.has(s)) continue;
      const lease = this.leases[s]!;
      const got = await lease.tryAcquireOrRenew().catch(() => false);
      if (!got) continue;
      this.owned.add(s);
      this.o.log.info({ shard: s, replicas: this.replicas }, `took shard ${s}`);
      this.o.onAcquired(s);
    }
  }

  /**
   * Neither waits in the round: stopping a shard's Apps can take as long as a synth, and the
   * other shards' renewals must not wait for it. The shard is no longer owned at once, so the
   * fence stops its writes meanwhile.
   */
  private lose(s: number): void {
    this.owned.delete(s);
    this.leases[s]!.drop();
    this.o.log.warn({ shard: s }, `lost shard ${s}: its lease was not renewed in time; its Apps stop here`);
    this.track(this.o.onLost(s));
  }

  /** Stops the shard's Apps, then releases its Lease (another replica may take it at once). */
  private giveUp(s: number, why: string): Promise<void> {
    this.owned.delete(s);
    this.releasing.add(s);
    return this.track((async () => {
      try {
        await this.o.onLost(s);
        await this.leases[s]!.release();
        this.o.log.info({ shard: s }, `gave up shard ${s} (${why})`);
      } finally {
        this.releasing.delete(s);
      }
    })());
  }

  private track(p: Promise<void>): Promise<void> {
    const t = p.catch((e) => this.o.log.warn(`stopping a shard's Apps: ${(e as Error).message}`)).finally(() => this.pending.delete(t));
    this.pending.add(t);
    return t;
  }
}

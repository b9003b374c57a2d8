/**
 * One coordination.k8s.io Lease held by one replica at a time, with the timing of
 * controller-runtime's leader election: a lease lasts 15 s, its holder renews it every 2 s and
 * gives it up when it could not renew for 10 s; another replica takes it only once it has seen
 * no renewal for the whole lease duration, on its own clock. The holder stops acting before
 * anyone else may start (renew deadline < lease duration), so two replicas never act at once
 * while their clocks run at the same rate (the assumption every Lease-based election makes).
 *
 * Every write is a server-side apply with `metadata.resourceVersion` as a precondition: of two
 * replicas that try to take the same lease, the apiserver lets one through and answers the other
 * 409. The Lease is first created without a holder (by another field manager), so that two
 * replicas creating it at once cannot both believe they took it.
 */
import { ConflictError } from '../cluster/errors.js';
import type { Cluster, KubeObject } from '../cluster/types.js';
import type { Clock } from '../clock.js';

export const LEASE_API_VERSION = 'coordination.k8s.io/v1';
const HOLDER_MANAGER = 'kgitops-lease';
const INIT_MANAGER = 'kgitops-lease-init';

export interface LeaseTiming {
  /** How long a lease lasts without renewal. @default 15 s */
  readonly leaseDurationMs: number;
  /** The holder gives the lease up when it could not renew it for this long. @default 10 s */
  readonly renewDeadlineMs: number;
  /** How often a replica renews, or tries to take a lease. @default 2 s */
  readonly retryPeriodMs: number;
}

export const DEFAULT_LEASE_TIMING: LeaseTiming = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** What a replica last saw of a Lease, and when (on its own clock). */
interface Observed {
  readonly holder: string;
  readonly acquireTime: string;
  readonly renewTime: string;
  readonly resourceVersion: string;
  readonly transitions: number;
  /** clock.now() when holder or renewTime last changed. */
  readonly seenAt: number;
}

export class LeaseLock {
  private observed?: Observed;
  /** clock.now() of our last successful acquire or renew. */
  private renewedAt?: number;

  constructor(
    private readonly cluster: Cluster,
    readonly namespace: string,
    readonly name: string,
    readonly identity: string,
    private readonly clock: Clock,
    private readonly timing: LeaseTiming = DEFAULT_LEASE_TIMING,
    private readonly labels: Record<string, string> = {},
  ) {}

  /**
   * Whether this replica may act for the lease now: it renewed it within the renew deadline.
   * Checked before every write of what the lease guards (the fence).
   */
  held(): boolean {
    return this.renewedAt !== undefined && this.clock.now() - this.renewedAt < this.timing.renewDeadlineMs;
  }

  /** The holder as last seen ('' when free), for status output. */
  get holder(): string {
    return this.observed?.holder ?? '';
  }

  /**
   * Takes the lease if it is free, released, or expired; renews it if ours. True when we hold
   * it afterwards. Errors other than losing a race propagate (the caller retries next period).
   */
  async tryAcquireOrRenew(): Promise<boolean> {
    // Our own lease is renewed from what we last wrote (one request); any other is read first
    // (or was just observed from a list).
    if (!this.observed || this.observed.holder !== this.identity) await this.read();
    const now = this.clock.now();
    const o = this.observed!;
    const ours = o.holder === this.identity;
    if (!ours && o.holder !== '' && now - o.seenAt < this.timing.leaseDurationMs) {
      this.renewedAt = undefined;
      return false; // someone else's, and alive
    }
    const iso = microTime(now);
    const spec = {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.timing.leaseDurationMs / 1000),
      acquireTime: ours ? o.acquireTime || iso : iso,
      renewTime: iso,
      // A change of holder after the first one (a lease never held has no renewTime).
      leaseTransitions: ours || !o.renewTime ? o.transitions : o.transitions + 1,
    };
    try {
      const written = await this.write(spec, o.resourceVersion);
      this.remember(written, now);
      this.renewedAt = now;
      return true;
    } catch (e) {
      if (e instanceof ConflictError) {
        // Another replica wrote it since we read it: whoever it was, it is not ours now.
        this.observed = undefined;
        if (!ours) this.renewedAt = undefined;
        return false;
      }
      throw e;
    }
  }

  /** Gives the lease up (before another replica's lease duration is over): only if still ours. */
  async release(): Promise<void> {
    this.renewedAt = undefined;
    const o = this.observed;
    if (!o || o.holder !== this.identity) return;
    try {
      const written = await this.write({ holderIdentity: '', leaseDurationSeconds: 1, acquireTime: o.acquireTime, renewTime: microTime(this.clock.now()), leaseTransitions: o.transitions }, o.resourceVersion);
      this.remember(written, this.clock.now());
    } catch {
      // Taken meanwhile, or unreachable: it expires by itself.
      this.observed = undefined;
    }
  }

  /**
   * What a list of the namespace's Leases showed of this one (saves a read before an attempt to
   * take it). Undefined: not there.
   */
  observe(live: KubeObject | undefined): void {
    if (live) this.remember(live, this.clock.now());
    else this.observed = undefined;
  }

  /** Forgets that we hold it, without a write (the process is going; it expires by itself). */
  drop(): void {
    this.renewedAt = undefined;
  }

  private async read(): Promise<void> {
    const key = { apiVersion: LEASE_API_VERSION, kind: 'Lease', namespace: this.namespace, name: this.name };
    let live = await this.cluster.get(key);
    if (!live) {
      // Created without a holder (and without any field the holder's writes own).
      live = await this.cluster.apply({ apiVersion: LEASE_API_VERSION, kind: 'Lease', metadata: { name: this.name, namespace: this.namespace, labels: this.labels } }, { fieldManager: INIT_MANAGER, force: true });
    }
    this.remember(live, this.clock.now());
  }

  private remember(live: KubeObject, now: number): void {
    const holder = String(live.spec?.holderIdentity ?? '');
    const renewTime = String(live.spec?.renewTime ?? '');
    const prev = this.observed;
    const changed = !prev || prev.holder !== holder || prev.renewTime !== renewTime;
    this.observed = {
      holder, acquireTime: String(live.spec?.acquireTime ?? ''), renewTime, resourceVersion: live.metadata.resourceVersion ?? '', transitions: Number(live.spec?.leaseTransitions ?? 0),
      seenAt: changed ? now : prev.seenAt,
    };
  }

  private write(spec: Record<string, unknown>, resourceVersion: string): Promise<KubeObject> {
    return this.cluster.apply({
      apiVersion: LEASE_API_VERSION, kind: 'Lease', metadata: { name: this.name, namespace: this.namespace, resourceVersion }, spec,
    }, { fieldManager: HOLDER_MANAGER, force: true });
  }
}

/** A Lease's MicroTime: RFC 3339 with six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

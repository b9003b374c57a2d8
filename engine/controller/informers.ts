/**
 * One watch per kind for all the Apps of a replica (client-go's shared informers, without the
 * cache): the release controllers of a hundred Apps that release CloneSets share one
 * cluster-wide CloneSet watch, made as the controller, instead of a watch each as their
 * ServiceAccounts. An event only wakes a release controller up; what it reads and writes it
 * still reads and writes as the App (its impersonated cluster), so no tenant sees more than RBAC
 * lets it.
 *
 * A watch that ends (a timeout, 410 Gone, a restarted apiserver) starts again after a second;
 * subscribers are told (onRestart) so that they look again at what they may have missed. Where
 * the controller may not watch a kind cluster-wide, subscribe() rejects and the subscriber
 * watches on its own.
 */
import type { Cluster, WatchEvent, WatchHandle } from '../cluster/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';

interface Subscriber {
  readonly namespace?: string;
  readonly onEvent: (e: WatchEvent) => void;
  readonly onRestart?: () => void;
}

interface SharedWatch {
  handle?: WatchHandle;
  ready: Promise<void>;
  readonly subscribers: Set<Subscriber>;
}

export class WatchHub {
  private readonly watches = new Map<string, SharedWatch>();
  private stopped = false;

  constructor(private readonly o: { readonly cluster: Cluster; readonly clock: Clock; readonly log: Logger }) {}

  /** Watches being served (a metric, and tests). */
  get size(): number {
    return this.watches.size;
  }

  /**
   * Events of a kind in one namespace (or every namespace). The first subscriber of a kind starts
   * its watch (and waits for it); the last one to stop ends it.
   */
  async subscribe(apiVersion: string, kind: string, namespace: string | undefined, onEvent: (e: WatchEvent) => void, onRestart?: () => void): Promise<WatchHandle> {
    const key = `${apiVersion}/${kind}`;
    let w = this.watches.get(key);
    if (!w) {
      const created: SharedWatch = { ready: Promise.resolve(), subscribers: new Set() };
      created.ready = this.start(key, apiVersion, kind, created);
      this.watches.set(key, created);
      w = created;
      created.ready.catch(() => { if (this.watches.get(key) === created) this.watches.delete(key); });
    }
    await w.ready;
    const sub: Subscriber = { ...(namespace ? { namespace } : {}), onEvent, ...(onRestart ? { onRestart } : {}) };
    w.subscribers.add(sub);
    let end!: () => void;
    const done = new Promise<void>((r) => { end = r; });
    const shared = w;
    return {
      done,
      stop: () => {
        shared.subscribers.delete(sub);
        end();
        if (shared.subscribers.size === 0 && this.watches.get(key) === shared) {
          this.watches.delete(key);
          shared.handle?.stop();
        }
      },
    };
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watches.values()) w.handle?.stop();
    this.watches.clear();
  }

  private async start(key: string, apiVersion: string, kind: string, w: SharedWatch): Promise<void> {
    const handle = await this.o.cluster.watch(apiVersion, kind, {}, (e) => {
      for (const s of w.subscribers) if (!s.namespace || s.namespace === e.object.metadata.namespace) s.onEvent(e);
    });
    w.handle = handle;
    handle.done.catch(() => {}).finally(() => {
      if (this.stopped || this.watches.get(key) !== w || w.handle !== handle) return;
      this.restart(key, apiVersion, kind, w, 1000);
    });
  }

  private restart(key: string, apiVersion: string, kind: string, w: SharedWatch, delayMs: number): void {
    this.o.clock.setTimer(delayMs, () => {
      if (this.stopped || this.watches.get(key) !== w) return;
      this.start(key, apiVersion, kind, w).then(
        () => { for (const s of w.subscribers) s.onRestart?.(); },
        (e) => {
          this.o.log.warn({ kind: key }, `the shared watch could not start again: ${(e as Error).message}; trying again in 5 s (release controllers rely on their timers meanwhile)`);
          this.restart(key, apiVersion, kind, w, 5000);
        },
      );
    });
  }
}

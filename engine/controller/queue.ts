/**
 * The controller's work queue, with the semantics of client-go's rate-limited queue: a key is
 * in the queue at most once, a key being processed is never handed to a second worker (an add
 * while it runs marks it dirty, and it runs again once done), and a key that keeps failing
 * waits exponentially longer (forget() on success resets it). A fixed number of workers take
 * keys in order, so a slow or failing App holds one worker and never the others.
 */
import type { Clock, TimerHandle } from '../clock.js';

export interface BackoffOptions {
  /** First retry delay. @default 1 s */
  readonly baseMs?: number;
  /** Longest delay. @default 5 min */
  readonly maxMs?: number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  /** Dirty keys added with addFirst: they go back at the front. */
  private readonly dirtyFirst = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: TimerHandle }>();
  private readonly waiters: (() => void)[] = [];
  private shuttingDown = false;

  constructor(private readonly clock: Clock, private readonly backoff: BackoffOptions = {}) {}

  /** Keys waiting to be processed (a metric: queue depth). */
  get length(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.waiters.shift()?.();
  }

  /**
   * Adds the key at the front (a push that touches this App: it goes before Apps the push does
   * not touch); a key already queued moves to the front.
   */
  addFirst(key: string): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      this.dirtyFirst.add(key);
      return;
    }
    if (this.queued.has(key)) this.queue.splice(this.queue.indexOf(key), 1);
    else this.queued.add(key);
    this.queue.unshift(key);
    this.waiters.shift()?.();
  }

  /**
   * Adds the key after `ms`; an earlier pending addAfter of the same key wins. `first`: at the
   * front when it is due (a cheap re-check that must not wait behind a queue of long work).
   */
  addAfter(key: string, ms: number, first = false): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return first ? this.addFirst(key) : this.add(key);
    const at = this.clock.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    pending?.timer.cancel();
    const timer = this.clock.setTimer(ms, () => {
      this.timers.delete(key);
      if (first) this.addFirst(key);
      else this.add(key);
    });
    this.timers.set(key, { at, timer });
  }

  /** Adds the key after its backoff (base * 2^failures, capped) and counts one more failure. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.min((this.backoff.baseMs ?? 1_000) * 2 ** n, this.backoff.maxMs ?? 300_000);
    this.addAfter(key, delay);
    return delay;
  }

  /** Failures in a row of a key (0 after forget). */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Drops a key entirely (its App was deleted): no pending retry, no backoff. */
  remove(key: string): void {
    this.forget(key);
    this.timers.get(key)?.timer.cancel();
    this.timers.delete(key);
    if (this.queued.delete(key)) this.queue.splice(this.queue.indexOf(key), 1);
    this.dirty.delete(key);
    this.dirtyFirst.delete(key);
  }

  /** The next key, once there is one; undefined when the queue shuts down. */
  async get(): Promise<string | undefined> {
    while (!this.queue.length) {
      if (this.shuttingDown) return undefined;
      await new Promise<void>((r) => this.waiters.push(r));
    }
    const key = this.queue.shift()!;
    this.queued.delete(key);
    this.processing.add(key);
    return key;
  }

  /** Marks a key processed; if it was added meanwhile, it goes back in the queue. */
  done(key: string): void {
    this.processing.delete(key);
    const first = this.dirtyFirst.delete(key);
    if (this.dirty.delete(key)) {
      if (first) this.addFirst(key);
      else this.add(key);
    }
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const t of this.timers.values()) t.timer.cancel();
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w();
  }

  /**
   * Runs `workers` loops that take keys and call `process`; resolves when the queue is shut
   * down and every key in progress is done.
   */
  run(workers: number, process: (key: string) => Promise<void>): Promise<void> {
    const loop = async () => {
      for (let key = await this.get(); key !== undefined; key = await this.get()) {
        try {
          await process(key);
        } finally {
          this.done(key);
        }
      }
    };
    return Promise.all(Array.from({ length: Math.max(1, workers) }, loop)).then(() => {});
  }
}

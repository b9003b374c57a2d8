/**
 * The sync loop: reconcile now, then again every interval or as soon as a push webhook
 * arrives, until stopped. Stopping (SIGTERM) lets the apply in flight finish its current
 * requests and records the reconcile as interrupted; the next start carries on from the cluster.
 */
import type { Clock } from './clock.js';
import type { Logger } from './log.js';
import type { ReconcileResult, Reconciler } from './reconciler.js';

export interface SyncEngineOptions {
  readonly intervalMs: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** Called after every reconcile (progress output, metrics, tests). */
  readonly onResult?: (r: ReconcileResult) => void;
}

export class SyncEngine {
  private wake?: () => void;
  private pending = false;
  private running?: Promise<void>;

  constructor(private readonly reconciler: Reconciler, private readonly o: SyncEngineOptions) {}

  /** Asks for a reconcile as soon as possible (coalesced with one already pending). */
  trigger(reason: string): void {
    this.o.log.info({ reason }, 'reconcile requested');
    this.pending = true;
    this.wake?.();
  }

  /**
   * Runs until `signal` aborts. The process stays up for it: every timer of the engine is
   * unref'd (none of them alone should keep a CLI alive), so without this hold node would exit
   * in the wait between two reconciles whenever nothing else was pending.
   */
  run(signal: AbortSignal): Promise<void> {
    if (!this.running) {
      const hold = setInterval(() => {}, 1 << 30);
      this.running = this.loop(signal).finally(() => clearInterval(hold));
    }
    return this.running;
  }

  private async loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      this.pending = false;
      try {
        const r = await this.reconciler.reconcile(signal);
        this.o.onResult?.(r);
      } catch (e) {
        // Never let one reconcile take the engine down; the next one starts from the cluster.
        this.o.log.error({ err: (e as Error)?.message }, 'reconcile crashed');
      }
      if (signal.aborted || this.pending) continue;
      await new Promise<void>((resolve) => {
        const timer = this.o.clock.setTimer(this.o.intervalMs, () => resolve());
        const onAbort = () => { timer.cancel(); resolve(); };
        signal.addEventListener('abort', onAbort, { once: true });
        this.wake = () => { timer.cancel(); signal.removeEventListener('abort', onAbort); resolve(); };
      });
      this.wake = undefined;
    }
  }
}

/** Shared set-up for the SimCluster controller tests. */
import { FakeClock } from '../../../engine/clock.js';
import type { KubeObject, ObjectKey } from '../../../engine/cluster/types.js';
import { SimCluster, type SimClusterOptions } from '../../../engine/cluster/sim/index.js';

export const GIT = { fieldManager: 'kgitops' };
export const RELEASE = { fieldManager: 'kgitops-release' };

export interface Env {
  readonly sim: SimCluster;
  readonly clock: FakeClock;
  /** Current stored object. */
  get(key: ObjectKey): Promise<KubeObject>;
  /** The status once the controller has observed the current generation, else {} (never trust a stale counter). */
  observed(key: ObjectKey): Promise<Record<string, any>>;
  /** Advances the clock in steps, calling `check` after each. */
  tick(ms: number, step?: number, check?: () => void | Promise<void>): Promise<void>;
  /** Advances until `cond` holds (or fails after `limitMs`). */
  until(cond: () => boolean | Promise<boolean>, limitMs?: number, step?: number, check?: () => void | Promise<void>): Promise<number>;
}

export async function env(o: SimClusterOptions = {}, namespaces: string[] = ['shop']): Promise<Env> {
  const clock = new FakeClock();
  const sim = new SimCluster({ clock, ...o });
  for (const name of namespaces) await sim.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, GIT);
  const e: Env = {
    sim, clock,
    async get(key) {
      const o = await sim.get(key);
      if (!o) throw new Error(`${key.kind} ${key.name} not found`);
      return o;
    },
    async observed(key) {
      const o = await e.get(key);
      return o.status && o.status.observedGeneration >= (o.metadata.generation ?? 0) ? o.status : {};
    },
    async tick(ms, step = 100, check) {
      for (let t = 0; t < ms; t += step) {
        await clock.advance(step);
        await check?.();
      }
    },
    async until(cond, limitMs = 120_000, step = 100, check) {
      const start = clock.now();
      while (!(await cond())) {
        if (clock.now() - start > limitMs) throw new Error(`condition not reached within ${limitMs} ms`);
        await clock.advance(step);
        await check?.();
      }
      return clock.now() - start;
    },
  };
  return e;
}

export function podTemplate(labels: Record<string, string>, image: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { metadata: { labels }, spec: { containers: [{ name: 'main', image }], ...extra } };
}

export const isReady = (p: KubeObject) => p.status?.phase === 'Running' && p.status.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');

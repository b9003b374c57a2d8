/**
 * The shared watch of a replica (engine/controller/informers.ts) on the simulated cluster: Apps
 * in two namespaces share one CloneSet watch, each hears its own namespace only, and the watch
 * ends with its last subscriber; a watch that ends is started again and subscribers are told.
 */
import { expect, it } from 'vitest';
import { FakeClock, flushPromises } from '../../../engine/clock.js';
import { SimCluster } from '../../../engine/cluster/sim/index.js';
import type { Cluster, KubeObject, WatchEvent } from '../../../engine/cluster/types.js';
import { WatchHub } from '../../../engine/controller/informers.js';
import { createLogger } from '../../../engine/log.js';

const cm = (ns: string, name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { a: '1' } }) as KubeObject;

it('one watch per kind for every subscriber, each hearing its own namespace; the last one to leave ends it; a restart is announced', async () => {
  const clock = new FakeClock();
  const sim = new SimCluster({ clock, namespaces: ['default', 'team-a', 'team-b'] });
  let watches = 0;
  const handles: { stop(): void }[] = [];
  const counting = Object.create(sim) as Cluster;
  counting.watch = async (...args) => { watches++; const h = await sim.watch(...args); handles.push(h); return h; };
  const hub = new WatchHub({ cluster: counting, clock, log: createLogger({ level: 'silent' }) });
  const a: string[] = [];
  const b: string[] = [];
  let restarts = 0;
  const ha = await hub.subscribe('v1', 'ConfigMap', 'team-a', (e: WatchEvent) => a.push(e.object.metadata.name), () => restarts++);
  const hb = await hub.subscribe('v1', 'ConfigMap', 'team-b', (e: WatchEvent) => b.push(e.object.metadata.name));
  expect(watches).toBe(1);
  await sim.apply(cm('team-a', 'x'), { fieldManager: 't' });
  await sim.apply(cm('team-b', 'y'), { fieldManager: 't' });
  await flushPromises();
  expect(a).toEqual(['x']);
  expect(b).toEqual(['y']);
  // The watch ends (as on 410 Gone): it starts again after a second, and subscribers hear of it.
  handles[0]!.stop();
  await clock.advance(1_000);
  expect(watches).toBe(2);
  expect(restarts).toBe(1);
  await sim.apply(cm('team-a', 'z'), { fieldManager: 't' });
  await flushPromises();
  // (A new watch starts with the current state: x again, then z; never team-b's y.)
  expect(a).toEqual(['x', 'x', 'z']);
  expect(b).toEqual(['y', 'y']);
  ha.stop();
  expect(hub.size).toBe(1);
  hb.stop();
  expect(hub.size).toBe(0);
  hub.stop();
});

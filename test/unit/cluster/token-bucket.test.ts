/** The client-side rate limit of KubeCluster (--kube-qps, --kube-burst). */
import { expect, it } from 'vitest';
import { TokenBucket } from '../../../engine/cluster/kube.js';

it('lets the burst through at once, then qps requests a second, in the order asked', async () => {
  const bucket = new TokenBucket(50, 5);
  const t0 = performance.now();
  const at: number[] = [];
  const order: number[] = [];
  await Promise.all(Array.from({ length: 15 }, (_, i) => bucket.take().then(() => { at.push(performance.now() - t0); order.push(i); })));
  expect(order).toEqual(Array.from({ length: 15 }, (_, i) => i));
  // The first five without waiting; ten more at 50/s take about 200 ms.
  expect(at[4]).toBeLessThan(50);
  expect(at[14]).toBeGreaterThanOrEqual(180);
  expect(at[14]).toBeLessThan(1_000);
});

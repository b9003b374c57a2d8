/**
 * Whether a fleet's test bed fits the machine: a management cluster (level a) and two workload
 * clusters (level b: kube-scheduler, kwok, the real kruise-manager), started side by side as
 * test/e2e/fleet.test.ts and `npm run cluster:up -- --name <n>` start them. Prints each one's
 * start-up time and resident memory per component, the total, and the machine's available
 * memory before and after.
 *
 *   npx tsx bench/fleet-control-planes.ts
 */
import { readFileSync } from 'node:fs';
import { type ControlPlane, startControlPlane } from '../test/cluster/controlplane.js';

const available = () => Number(/MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) / 1024;
const mib = (b: number) => Math.round(b / 2 ** 20);

async function main(): Promise<void> {
  const before = available();
  const t0 = Date.now();
  const planes: [string, ControlPlane][] = [];
  try {
    const started = await Promise.all(([['management', 'a'], ['staging', 'b'], ['prod', 'b']] as const).map(async ([name, level]) => [name, await startControlPlane({ level })] as [string, ControlPlane]));
    planes.push(...started);
    const wall = Date.now() - t0;
    // Settled: a few seconds for the controllers' first syncs.
    await new Promise((r) => setTimeout(r, 10_000));
    let total = 0;
    for (const [name, cp] of planes) {
      const rss = cp.rss();
      const sum = Object.values(rss).reduce((a, b) => a + b, 0);
      total += sum;
      console.log(`${name.padEnd(10)} level ${cp.level}  up in ${(cp.startupMs / 1000).toFixed(1)} s  RSS ${mib(sum)} MiB (${Object.entries(rss).map(([k, v]) => `${k} ${mib(v)}`).join(', ')})`);
    }
    console.log(`three control planes: up in ${(wall / 1000).toFixed(1)} s side by side, RSS ${mib(total)} MiB; available memory ${Math.round(before)} MiB before, ${Math.round(available())} MiB after`);
  } finally {
    await Promise.all(planes.map(([, cp]) => cp.stop()));
  }
}

await main();

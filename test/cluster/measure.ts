// Warm start-up time and memory of each level: `npx tsx test/cluster/measure.ts [runs]`.
import { startControlPlane, type Level } from './controlplane.js';

const runs = Number(process.argv[2] ?? 3);
const mib = (b: number) => Math.round(b / 2 ** 20);
for (const level of ['a', 'b'] as Level[]) {
  for (let i = 0; i < runs; i++) {
    const cp = await startControlPlane({ level });
    const atStart = cp.rss();
    await new Promise((r) => setTimeout(r, 10_000));
    const settled = cp.rss();
    const t0 = Date.now();
    await cp.stop();
    const total = (r: Record<string, number>) => mib(Object.values(r).reduce((a, b) => a + b, 0));
    console.log(
      `level ${level} run ${i + 1}: up ${(cp.startupMs / 1000).toFixed(1)}s, stop ${((Date.now() - t0) / 1000).toFixed(1)}s, ` +
        `RSS ${total(atStart)} MiB at start, ${total(settled)} MiB after 10s (` +
        Object.entries(settled)
          .map(([n, b]) => `${n} ${mib(b)}`)
          .join(', ') +
        ')',
    );
  }
}

// npm run cluster:up    start a throwaway level (b) cluster in the background, print its kubeconfig
// npm run cluster:down  stop it and delete its state
// npm run cluster:status (tsx test/cluster/cli.ts status) show whether one is running
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheRoot, ControlPlaneError, startControlPlane, type Level } from './controlplane.js';
import { readPids, readRunRecord, reapStaleRuns, runsBinary } from './processes.js';

const runsDir = path.join(cacheRoot(), 'runs');

function persistentRuns() {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(runsDir);
  } catch {
    return [];
  }
  return entries
    .map((e) => readRunRecord(path.join(runsDir, e)))
    .filter((r): r is NonNullable<typeof r> => !!r?.persistent)
    .map((r) => ({ ...r, live: readPids(r.stateDir).filter((p) => runsBinary(p.pid, p.bin)) }));
}

async function up(level: Level): Promise<void> {
  const running = persistentRuns().filter((r) => r.live.length > 0);
  if (running.length) {
    console.log(`a cluster is already running (level ${running[0].level}); stop it with npm run cluster:down`);
    console.log(`export KUBECONFIG=${running[0].kubeconfigPath}`);
    return;
  }
  await reapStaleRuns(runsDir, { includePersistent: true });
  const cp = await startControlPlane({ level, persistent: true, log: (m) => console.error(`[cluster] ${m}`) });
  const rss = Object.values(cp.rss()).reduce((a, b) => a + b, 0);
  console.error(`[cluster] level ${level} up in ${(cp.startupMs / 1000).toFixed(1)}s, RSS ${Math.round(rss / 2 ** 20)}MiB`);
  console.error(`[cluster] logs: ${path.join(cp.stateDir, 'logs')}; stop with: npm run cluster:down`);
  console.log(`export KUBECONFIG=${cp.kubeconfigPath}`);
}

async function down(): Promise<void> {
  const runs = persistentRuns();
  const n = await reapStaleRuns(runsDir, { includePersistent: true, log: (m) => console.error(`[cluster] ${m}`) });
  console.log(runs.length ? `stopped ${runs.length} cluster(s)` : n ? `cleaned ${n} stale run(s)` : 'no cluster running');
}

function status(): void {
  const runs = persistentRuns();
  if (!runs.length) return console.log('no cluster running');
  for (const r of runs) {
    console.log(`level ${r.level} started ${r.startedAt}: ${r.live.map((p) => `${p.name}(${p.pid})`).join(' ') || 'no live processes'}`);
    console.log(`  KUBECONFIG=${r.kubeconfigPath}`);
  }
}

const [cmd = 'up', arg] = process.argv.slice(2);
try {
  if (cmd === 'up') await up(arg === 'a' ? 'a' : 'b');
  else if (cmd === 'down') await down();
  else if (cmd === 'status') status();
  else {
    console.error('usage: cli.ts up [a|b] | down | status');
    process.exitCode = 2;
  }
} catch (e) {
  console.error(e instanceof ControlPlaneError ? e.message : e);
  process.exitCode = 1;
}

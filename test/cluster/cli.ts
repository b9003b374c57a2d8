// npm run cluster:up [-- a|b] [--name <n>]   start a throwaway cluster in the background, print its kubeconfig
// npm run cluster:down [-- --name <n>]       stop it (without --name: all of them) and delete its state
// npm run cluster:status                     the clusters running, by name
//
// Clusters of different names run side by side, each with its own ports and state: a fleet's
// management cluster and its workload clusters (`--name mgmt a`, `--name eu b`, `--name us b`).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { cacheRoot, ControlPlaneError, startControlPlane, type Level } from './controlplane.js';
import { isAlive, readPids, readRunRecord, reapStaleRuns, runsBinary } from './processes.js';

const runsDir = path.join(cacheRoot(), 'runs');
const DEFAULT_NAME = 'default';
const NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

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
    .map((r) => ({ ...r, name: r.name ?? DEFAULT_NAME, live: readPids(r.stateDir).filter((p) => runsBinary(p.pid, p.bin)) }));
}

/** Stops one run's processes and deletes its state. */
async function stopRun(r: ReturnType<typeof persistentRuns>[number]): Promise<void> {
  for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
    for (const p of r.live) if (isAlive(p.pid)) try { process.kill(p.pid, sig); } catch { /* gone */ }
    for (let i = 0; i < 50 && r.live.some((p) => isAlive(p.pid)); i++) await new Promise((res) => setTimeout(res, 100));
  }
  fs.rmSync(r.stateDir, { recursive: true, force: true });
}

async function up(level: Level, name: string): Promise<void> {
  const running = persistentRuns().filter((r) => r.live.length > 0 && r.name === name);
  if (running.length) {
    console.log(`cluster ${name} is already running (level ${running[0]!.level}); stop it with npm run cluster:down -- --name ${name}`);
    console.log(`export KUBECONFIG=${running[0]!.kubeconfigPath}`);
    return;
  }
  // Dead runs of this name (a reboot, a kill) are cleaned; the others' runs are left alone.
  for (const r of persistentRuns().filter((x) => x.name === name)) await stopRun(r);
  const cp = await startControlPlane({ level, persistent: true, name, log: (m) => console.error(`[cluster ${name}] ${m}`) });
  const rss = Object.values(cp.rss()).reduce((a, b) => a + b, 0);
  console.error(`[cluster ${name}] level ${level} up in ${(cp.startupMs / 1000).toFixed(1)}s, RSS ${Math.round(rss / 2 ** 20)}MiB`);
  console.error(`[cluster ${name}] logs: ${path.join(cp.stateDir, 'logs')}; stop with: npm run cluster:down -- --name ${name}`);
  console.log(`export KUBECONFIG=${cp.kubeconfigPath}`);
}

async function down(name: string | undefined): Promise<void> {
  const runs = persistentRuns().filter((r) => name === undefined || r.name === name);
  for (const r of runs) await stopRun(r);
  const n = name === undefined ? await reapStaleRuns(runsDir, { includePersistent: true, log: (m) => console.error(`[cluster] ${m}`) }) : 0;
  console.log(runs.length ? `stopped ${runs.map((r) => r.name).join(', ')}` : n ? `cleaned ${n} stale run(s)` : name ? `no cluster ${name} running` : 'no cluster running');
}

function status(json: boolean): void {
  const runs = persistentRuns();
  if (json) {
    console.log(JSON.stringify(runs.map((r) => ({ name: r.name, level: r.level, startedAt: r.startedAt, kubeconfig: r.kubeconfigPath, live: r.live.length > 0 })), null, 2));
    return;
  }
  if (!runs.length) return console.log('no cluster running');
  for (const r of runs) {
    console.log(`${r.name}: level ${r.level} started ${r.startedAt}: ${r.live.map((p) => `${p.name}(${p.pid})`).join(' ') || 'no live processes'}`);
    console.log(`  KUBECONFIG=${r.kubeconfigPath}`);
  }
}

const USAGE = 'usage: cli.ts up [a|b] [--name <n>] | down [--name <n>] | status [-o json]';
try {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { name: { type: 'string' }, output: { type: 'string', short: 'o' } } });
  const [cmd = 'up', arg] = positionals;
  if (values.name !== undefined && !NAME.test(values.name)) throw new ControlPlaneError(`--name ${values.name}: use lower-case letters, digits and dashes (at most 32)`);
  if (cmd === 'up') await up(arg === 'a' ? 'a' : 'b', values.name ?? DEFAULT_NAME);
  else if (cmd === 'down') await down(values.name);
  else if (cmd === 'status') status(values.output === 'json');
  else {
    console.error(USAGE);
    process.exitCode = 2;
  }
} catch (e) {
  console.error(e instanceof ControlPlaneError ? e.message : e instanceof TypeError ? `${e.message}\n${USAGE}` : e);
  process.exitCode = e instanceof TypeError ? 2 : 1;
}

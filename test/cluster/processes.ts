// Process bookkeeping for the test control plane: every component runs in its own process
// group (spawned detached), its pid goes into a pid file inside the run's state directory,
// and three mechanisms make sure nothing outlives the run:
//   1. ControlPlane.stop() terminates the groups in reverse start order (SIGTERM, then SIGKILL);
//   2. a synchronous 'exit' hook plus SIGINT/SIGTERM/SIGHUP handlers in the owning process;
//   3. a detached watchdog shell that kills the groups when the owning process disappears
//      (SIGKILL, OOM, a crashed vitest), and reapStaleRuns() at the next start as a last resort.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface TrackedProcess {
  name: string;
  pid: number;
  /** Absolute path of the executable, used to recognise the process again (pid reuse). */
  bin: string;
  child?: ChildProcess;
}

export interface RunRecord {
  ownerPid: number;
  /** cluster:up runs outlive their owner and are only stopped by cluster:down. */
  persistent: boolean;
  level: string;
  /** cluster:up --name: clusters of different names run side by side (fleets: several clusters). */
  name?: string;
  stateDir: string;
  kubeconfigPath: string;
  startedAt: string;
}

const PIDS_FILE = 'pids';
const RUN_FILE = 'run.json';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // A zombie still answers kill(0); treat it as gone.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** True if pid is alive and still runs `bin` (guards against killing a recycled pid). */
export function runsBinary(pid: number, bin: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    const exe = fs.readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
    if (exe === bin) return true;
  } catch {
    /* fall through to cmdline */
  }
  try {
    const argv0 = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    return argv0 === bin;
  } catch {
    return false;
  }
}

export function readPids(stateDir: string): TrackedProcess[] {
  let text = '';
  try {
    text = fs.readFileSync(path.join(stateDir, PIDS_FILE), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [pid, name, ...bin] = line.split(' ');
      return { pid: Number(pid), name, bin: bin.join(' ') };
    })
    .filter((p) => Number.isInteger(p.pid) && p.pid > 0);
}

export function appendPid(stateDir: string, p: TrackedProcess): void {
  fs.appendFileSync(path.join(stateDir, PIDS_FILE), `${p.pid} ${p.name} ${p.bin}\n`);
}

export function writeRunRecord(stateDir: string, rec: RunRecord): void {
  fs.writeFileSync(path.join(stateDir, RUN_FILE), JSON.stringify(rec, null, 2) + '\n');
}

export function readRunRecord(stateDir: string): RunRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, RUN_FILE), 'utf8')) as RunRecord;
  } catch {
    return undefined;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal); // the whole process group (spawned detached => pgid == pid)
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM the group, wait up to graceMs, then SIGKILL. Only touches pids still running `bin`. */
export async function terminate(p: TrackedProcess, graceMs = 5000): Promise<void> {
  if (!runsBinary(p.pid, p.bin) && !(p.child && p.child.exitCode === null && isAlive(p.pid))) return;
  signalGroup(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(p.pid)) break;
    await sleep(100);
  }
  // Kill the group even if the leader exited: children it left behind share the pgid.
  signalGroup(p.pid, 'SIGKILL');
  const hard = Date.now() + 3000;
  while (Date.now() < hard && isAlive(p.pid)) await sleep(50);
}

/** Synchronous last resort for 'exit' hooks and signal handlers. */
export function killAllSync(procs: TrackedProcess[]): void {
  for (const p of [...procs].reverse()) {
    if (isAlive(p.pid)) signalGroup(p.pid, 'SIGKILL');
  }
}

/**
 * A detached shell that waits for the owner to disappear, then kills every group listed in
 * the pid file and removes the state directory. It is itself stopped by a normal stop().
 */
export function spawnWatchdog(ownerPid: number, stateDir: string): TrackedProcess {
  const script = `
owner=$1; dir=$2
while kill -0 "$owner" 2>/dev/null; do sleep 1; done
[ -f "$dir/${PIDS_FILE}" ] || exit 0
pids=$(cut -d' ' -f1 "$dir/${PIDS_FILE}")
pids=$(for p in $pids; do [ "$p" = "$$" ] || echo "$p"; done)
for p in $pids; do kill -TERM -- "-$p" 2>/dev/null; done
sleep 3
for p in $pids; do kill -KILL -- "-$p" 2>/dev/null; done
rm -rf -- "$dir"
`;
  const child = spawn('/bin/bash', ['-c', script, 'kgitops-watchdog', String(ownerPid), stateDir], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  return { name: 'watchdog', pid: child.pid!, bin: '/bin/bash', child };
}

/**
 * Kill what earlier runs left behind: every run directory under runsDir whose owner is gone
 * (except persistent cluster:up runs unless includePersistent), plus its processes.
 */
export async function reapStaleRuns(
  runsDir: string,
  opts: { includePersistent?: boolean; log?: (m: string) => void } = {},
): Promise<number> {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(runsDir);
  } catch {
    return 0;
  }
  let reaped = 0;
  for (const entry of entries) {
    const dir = path.join(runsDir, entry);
    const rec = readRunRecord(dir);
    if (!rec) {
      // A run being created right now has no record for a moment: leave young directories alone.
      try {
        if (Date.now() - fs.statSync(dir).mtimeMs < 60_000) continue;
      } catch {
        continue;
      }
    }
    if (rec?.persistent && !opts.includePersistent) continue;
    if (rec && !rec.persistent && rec.ownerPid !== process.pid && isAlive(rec.ownerPid)) continue;
    if (rec && rec.ownerPid === process.pid) continue;
    const procs = readPids(dir);
    const live = procs.filter((p) => runsBinary(p.pid, p.bin));
    if (live.length) opts.log?.(`reaping ${live.length} stale control-plane process(es) from ${dir}`);
    for (const p of live.reverse()) await terminate(p, 2000);
    fs.rmSync(dir, { recursive: true, force: true });
    reaped++;
  }
  return reaped;
}

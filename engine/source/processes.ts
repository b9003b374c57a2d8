/**
 * Finding and ending the helpers a killed git leaves behind. Interrupting `git fetch` does not
 * end its transport helper (git-remote-http, ssh): it keeps waiting on the stalled server and,
 * once git has exited, is re-parented away from us. So before interrupting git we note its whole
 * process tree, and afterwards end whatever of that tree is still alive.
 * Linux only (/proc); elsewhere nothing is found and http.lowSpeedTime bounds the helpers' life.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface ProcessRef {
  readonly pid: number;
  /** Start time in clock ticks since boot: tells a recycled pid from the original. */
  readonly start: string;
}

interface Stat {
  readonly ppid: number;
  readonly start: string;
}

function readStat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses; fields after it do not.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), start: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

/**
 * The processes descending from children of this process whose working directory is inside
 * `dir` (the children included). Our git commands run in the mirror or a checkout, so this is
 * exactly the tree of the git command under way there.
 */
export function processTreeUnder(dir: string): ProcessRef[] {
  let entries: string[];
  try { entries = readdirSync('/proc'); } catch { return []; }
  const children = new Map<number, number[]>();
  const stats = new Map<number, Stat>();
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const stat = readStat(pid);
    if (!stat) continue;
    stats.set(pid, stat);
    const list = children.get(stat.ppid);
    if (list) list.push(pid); else children.set(stat.ppid, [pid]);
  }
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const roots = (children.get(process.pid) ?? []).filter((pid) => {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      return cwd === dir || cwd.startsWith(prefix);
    } catch {
      return false;
    }
  });
  const found: ProcessRef[] = [];
  const queue = [...roots];
  while (queue.length) {
    const pid = queue.shift()!;
    found.push({ pid, start: stats.get(pid)!.start });
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

/** Sends `signal` to each process still alive as the same process (same start time). */
export function endProcesses(refs: readonly ProcessRef[], signal: NodeJS.Signals = 'SIGTERM'): number {
  let ended = 0;
  for (const ref of refs) {
    const stat = readStat(ref.pid);
    if (!stat || stat.start !== ref.start) continue;
    try {
      process.kill(ref.pid, signal);
      ended++;
    } catch {
      // Already gone.
    }
  }
  return ended;
}

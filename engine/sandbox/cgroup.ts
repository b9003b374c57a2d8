/**
 * Control groups for sandboxed runs: one cgroup per run bounds the memory, processes and CPU of
 * its whole process tree (rlimits bound each process only), tells an out-of-memory kill from a
 * crash, and finds whatever is left to kill when the run ends.
 *
 * Which hierarchy:
 *  - cgroup v2, when the engine's own cgroup delegates the memory and pids controllers to its
 *    children (cgroup.subtree_control lists them: systemd `Delegate=yes`, a container runtime's
 *    delegated subtree); the engine never moves itself to make that so;
 *  - cgroup v1, when the engine may create children of its memory and pids cgroups (root on a
 *    host that mounts the v1 hierarchies, as Debian 12 with the hybrid layout does);
 *  - none: each process is still bounded by rlimits, and the tree by rlimits times the process
 *    limit; `kgitops sandbox` says which is in effect.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxLimits } from './limits.js';

export interface CgroupScope {
  readonly version: 1 | 2;
  /** The cgroup.procs files a process writes its own pid into to join the scope. */
  readonly procsFiles: string[];
  /** Whether the kernel's out-of-memory killer ended a process of the scope. */
  oomKilled(): boolean;
  /** Whether a fork or thread was refused because the scope was at its process limit. */
  processLimitHit(): boolean;
  /** Highest memory use of the scope, in bytes, when the kernel records it. */
  peakMemory(): number | undefined;
  /** Kills every process still in the scope and removes it. */
  destroy(): Promise<void>;
}

export interface CgroupSupport {
  readonly version: 1 | 2 | undefined;
  /** Why this hierarchy (or none) is used, for `kgitops sandbox` and the log. */
  readonly reason: string;
  /** A new scope with the limits applied; throws when the kernel refuses. */
  create(limits: SandboxLimits): CgroupScope | undefined;
}

interface Mount { readonly point: string; readonly fstype: string; readonly options: string[] }

/** Mount points of cgroup file systems, from /proc/self/mountinfo. */
export function cgroupMounts(mountinfo: string): Mount[] {
  const out: Mount[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const point = left.split(' ')[4];
    const [fstype, , superOptions = ''] = right.split(' ');
    if ((fstype === 'cgroup' || fstype === 'cgroup2') && point) {
      out.push({ point: point.replace(/\\040/g, ' '), fstype, options: superOptions.split(',') });
    }
  }
  return out;
}

/** The process's own cgroup per controller ('' for the v2 hierarchy), from /proc/self/cgroup. */
export function ownCgroups(procCgroup: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of procCgroup.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    for (const c of m[1].split(',')) out.set(c.replace(/^name=/, 'name='), m[2]);
  }
  return out;
}

function writable(dir: string): boolean {
  try { accessSync(dir, constants.W_OK); return true; } catch { return false; }
}

function read(file: string): string | undefined {
  try { return readFileSync(file, 'utf8'); } catch { return undefined; }
}

function counter(text: string | undefined, key: string): number {
  const m = text && new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

function scopeName(): string {
  return `kgitops-sandbox-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Kills what is in the cgroups, waits until they are empty (at most ~2 s), removes them. */
async function killAndRemove(dirs: string[], killFile?: string): Promise<void> {
  if (killFile && existsSync(killFile)) {
    try { writeFileSync(killFile, '1'); } catch { /* fall back to signals */ }
  }
  for (let i = 0; i < 40; i++) {
    let left = 0;
    for (const d of dirs) {
      for (const pid of (read(join(d, 'cgroup.procs')) ?? '').split('\n').filter(Boolean)) {
        left++;
        try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
      }
    }
    if (left === 0) break;
    await new Promise((r) => setTimeout(r, i < 10 ? 5 : 50));
  }
  for (const d of dirs) {
    try { rmdirSync(d); } catch { /* still busy or already gone: the kernel frees it once empty */ }
  }
}

export interface DetectOptions {
  readonly mountinfo?: string;
  readonly procCgroup?: string;
}

export function detectCgroups(o: DetectOptions = {}): CgroupSupport {
  const mountinfo = o.mountinfo ?? read('/proc/self/mountinfo') ?? '';
  const own = ownCgroups(o.procCgroup ?? read('/proc/self/cgroup') ?? '');
  const mounts = cgroupMounts(mountinfo);
  const none = (reason: string): CgroupSupport => ({ version: undefined, reason, create: () => undefined });

  // v2: usable when our own cgroup already delegates memory and pids to children.
  const unified = mounts.find((m) => m.fstype === 'cgroup2');
  const v2Reasons: string[] = [];
  if (unified && own.has('')) {
    const parent = join(unified.point, own.get('')!);
    const delegated = (read(join(parent, 'cgroup.subtree_control')) ?? '').trim().split(/\s+/);
    if (!delegated.includes('memory') || !delegated.includes('pids')) {
      v2Reasons.push(`cgroup v2: ${parent} does not delegate memory and pids to child cgroups`);
    } else if (!writable(parent)) {
      v2Reasons.push(`cgroup v2: ${parent} is not writable`);
    } else {
      return {
        version: 2,
        reason: `cgroup v2 under ${parent}`,
        create: (limits) => createV2(parent, limits, delegated.includes('cpu')),
      };
    }
  }

  // v1: memory and pids hierarchies where we may create children.
  const v1 = (controller: string) => {
    const m = mounts.find((x) => x.fstype === 'cgroup' && x.options.includes(controller));
    const path = own.get(controller);
    return m && path !== undefined ? join(m.point, path) : undefined;
  };
  const memory = v1('memory');
  const pids = v1('pids');
  const cpu = v1('cpu');
  if (memory && pids) {
    if (writable(memory) && writable(pids)) {
      return {
        version: 1,
        reason: `cgroup v1 (memory ${memory}, pids ${pids}${cpu && writable(cpu) ? `, cpu ${cpu}` : ''})`,
        create: (limits) => createV1({ memory, pids, ...(cpu && writable(cpu) ? { cpu } : {}) }, limits),
      };
    }
    v2Reasons.push(`cgroup v1: ${memory} and ${pids} are not writable (the engine is not root)`);
  }
  return none(`no cgroup to bound the whole process tree (${v2Reasons.join('; ') || 'no cgroup file system mounted'}); each process is bounded by rlimits`);
}

function createV2(parent: string, limits: SandboxLimits, cpu: boolean): CgroupScope {
  const dir = join(parent, scopeName());
  mkdirSync(dir);
  try {
    writeFileSync(join(dir, 'memory.max'), String(limits.memoryBytes));
    // Swap would let the tree go past the limit, only slower.
    if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0');
    writeFileSync(join(dir, 'pids.max'), String(limits.processes));
    if (cpu) writeFileSync(join(dir, 'cpu.max'), `${Math.round(limits.cpus * 100_000)} 100000`);
  } catch (e) {
    try { rmdirSync(dir); } catch { /* ignore */ }
    throw e;
  }
  return {
    version: 2,
    procsFiles: [join(dir, 'cgroup.procs')],
    oomKilled: () => counter(read(join(dir, 'memory.events')), 'oom_kill') > 0,
    processLimitHit: () => counter(read(join(dir, 'pids.events')), 'max') > 0,
    peakMemory: () => {
      const v = read(join(dir, 'memory.peak'));
      return v ? Number(v.trim()) : undefined;
    },
    destroy: () => killAndRemove([dir], join(dir, 'cgroup.kill')),
  };
}

function createV1(parents: { memory: string; pids: string; cpu?: string }, limits: SandboxLimits): CgroupScope {
  const name = scopeName();
  const dirs = { memory: join(parents.memory, name), pids: join(parents.pids, name), ...(parents.cpu ? { cpu: join(parents.cpu, name) } : {}) };
  const made: string[] = [];
  try {
    for (const d of Object.values(dirs)) { mkdirSync(d); made.push(d); }
    writeFileSync(join(dirs.memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
    if (existsSync(join(dirs.memory, 'memory.memsw.limit_in_bytes'))) {
      writeFileSync(join(dirs.memory, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
    }
    writeFileSync(join(dirs.pids, 'pids.max'), String(limits.processes));
    if (dirs.cpu) {
      writeFileSync(join(dirs.cpu, 'cpu.cfs_period_us'), '100000');
      writeFileSync(join(dirs.cpu, 'cpu.cfs_quota_us'), String(Math.round(limits.cpus * 100_000)));
    }
  } catch (e) {
    for (const d of made.reverse()) { try { rmdirSync(d); } catch { /* ignore */ } }
    throw e;
  }
  const all = Object.values(dirs);
  return {
    version: 1,
    procsFiles: all.map((d) => join(d, 'cgroup.procs')),
    oomKilled: () => counter(read(join(dirs.memory, 'memory.oom_control')), 'oom_kill') > 0,
    processLimitHit: () => counter(read(join(dirs.pids, 'pids.events')), 'max') > 0,
    peakMemory: () => {
      const v = read(join(dirs.memory, 'memory.max_usage_in_bytes'));
      return v ? Number(v.trim()) : undefined;
    },
    destroy: () => killAndRemove(all),
  };
}

/**
 * What a sandboxed run of repo code may use. The defaults fit a 10,000-workload app (about
 * 330 MiB of heap) with room to spare, and stop the attacks a hostile commit tries: a 3 GiB
 * Buffer, a fork bomb, gigabytes of YAML, an endless loop.
 */

export interface SandboxLimits {
  /** Memory of the whole process tree (cgroup), and of each process (RLIMIT_DATA). @default 2 GiB */
  readonly memoryBytes: number;
  /** Processes and threads of the whole tree (cgroup pids.max and RLIMIT_NPROC). @default 256 */
  readonly processes: number;
  /** CPU cores the tree may use at once (cgroup CPU quota). @default 2: one core slows start-up by a third (esbuild, GC and the compiler run threads) */
  readonly cpus: number;
  /** CPU seconds each process may use (RLIMIT_CPU). @default the wall time on every CPU, plus 5 s */
  readonly cpuSeconds?: number;
  /** Wall time, after which the whole tree is killed. @default 120 s */
  readonly wallMs: number;
  /** Open files per process (RLIMIT_NOFILE). @default 1024 */
  readonly openFiles: number;
  /** Size of the rendered output (the objects the app hands back). @default 64 MiB */
  readonly outputBytes: number;
  /** Size of the private writable /tmp (tmpfs; counts towards memory too). @default 256 MiB */
  readonly tmpBytes: number;
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export const DEFAULT_LIMITS: SandboxLimits = {
  memoryBytes: 2 * GiB,
  processes: 256,
  cpus: 2,
  wallMs: 120_000,
  openFiles: 1024,
  outputBytes: 64 * MiB,
  tmpBytes: 256 * MiB,
};

let processOverrides: Partial<SandboxLimits> = {};

/** Limits the command line set for this process (--max-output, --max-memory). */
export function setProcessLimits(overrides: Partial<SandboxLimits>): void {
  processOverrides = { ...overrides };
}

/** The defaults with this process's overrides: the base of every sandboxed run. */
export function baseLimits(): SandboxLimits {
  return withLimits(DEFAULT_LIMITS, processOverrides);
}

export function withLimits(base: SandboxLimits, extra: Partial<SandboxLimits> | undefined): SandboxLimits {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(extra ?? {})) if (v !== undefined) out[k] = v;
  return out as unknown as SandboxLimits;
}

/** V8's heap cap inside a sandbox: most of the memory limit, leaving room for Buffers and code. */
export function heapMiB(limits: SandboxLimits): number {
  return Math.max(256, Math.floor((limits.memoryBytes * 0.75) / MiB));
}

const UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1000, kb: 1000, ki: 1024, kib: 1024, m: 1000 ** 2, mb: 1000 ** 2, mi: MiB, mib: MiB,
  g: 1000 ** 3, gb: 1000 ** 3, gi: GiB, gib: GiB,
};

/** `64Mi`, `2Gi`, `512MiB`, `100M`, `1048576` -> bytes; undefined when not a size. */
export function parseSize(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v > 0 ? Math.floor(v) : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  if (!m) return undefined;
  const unit = UNITS[m[2].toLowerCase()];
  if (unit === undefined) return undefined;
  const n = Math.floor(Number(m[1]) * unit);
  return n > 0 ? n : undefined;
}

export function formatSize(bytes: number): string {
  if (bytes >= GiB && bytes % GiB === 0) return `${bytes / GiB} GiB`;
  if (bytes >= MiB) return `${Math.round((bytes / MiB) * 10) / 10} MiB`;
  return `${Math.round(bytes / 1024)} KiB`;
}

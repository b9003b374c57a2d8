/**
 * The sandbox every piece of repo code runs in: the app of `synth`, `diff`, `preview` and the
 * engine, and the repo's policy files. Repo code is hostile until proven otherwise; inside the
 * sandbox it can read its own checkout and the packages it runs on, write a small private /tmp,
 * and reach nothing else: no network, no other process, no credential, no cache, no git mirror.
 *
 * Mechanism: bubblewrap (Debian's `bubblewrap`, the sandbox Flatpak is built on), with limits
 * from rlimits (prlimit, inside the sandbox) and, where the engine may create them, one cgroup
 * per run for the whole process tree (cgroup.ts). See bwrap.ts for what the sandbox sees, and
 * the README ("The sandbox") for why bubblewrap and how it runs in a cluster.
 *
 * Where no sandbox can be made, repo code does not run: SandboxUnavailableError says why and
 * what to do. `Sandbox.unsafe()` (--unsafe-no-sandbox) runs it as a plain child process, for
 * local experiments with code one trusts, and warns on every run.
 */
import { type ChildProcess, spawn, spawnSync, type StdioOptions } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { buildLaunch, type HostLayout, LAUNCH_FAILED, LAUNCH_MARK, type SandboxSpec } from './bwrap.js';
import { type CgroupScope, type CgroupSupport, detectCgroups } from './cgroup.js';
import { baseLimits, DEFAULT_LIMITS, formatSize, type SandboxLimits, withLimits } from './limits.js';

export type { Bind, SandboxSpec } from './bwrap.js';
export { baseLimits, DEFAULT_LIMITS, formatSize, heapMiB, parseSize, type SandboxLimits, setProcessLimits, withLimits } from './limits.js';

/** No sandbox can be made here: repo code is refused. */
export class SandboxUnavailableError extends Error {
  constructor(message: string, public readonly hint: string) {
    super(message);
    this.name = 'SandboxUnavailableError';
  }
}

export interface SandboxOptions {
  /** The user the sandbox runs as on the host when the engine is root. @default 65534 (nobody) */
  readonly uid?: number;
  readonly gid?: number;
  /** Warnings (the unsafe mode's, a missing cgroup). @default stderr */
  readonly warn?: (message: string) => void;
}

/** How one sandboxed process ended. */
export interface SandboxExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  /** The cgroup's out-of-memory killer ended a process of the run. */
  readonly oomKilled: boolean;
  /** A fork or thread was refused at the process limit (known where a cgroup bounds the run). */
  readonly processLimitHit: boolean;
  /** The launcher could not set the sandbox up (its message is in stderr). */
  readonly launchFailed: boolean;
  readonly durationMs: number;
}

export interface SandboxProcess {
  readonly child: ChildProcess;
  /** Ends the whole tree now. */
  kill(): void;
  /** Starts (or restarts) the wall-time limit: a pre-started process arms it when its work arrives. */
  arm(ms: number): void;
  /** Resolves once the process has exited and everything of the run is gone. */
  readonly exited: Promise<SandboxExit>;
}

export interface SpawnOptions {
  /** Do not start the wall-time limit yet (a pre-started worker): call arm() when work arrives. */
  readonly deferTimeout?: boolean;
}

const ENGINE_UNSAFE_WARNING = 'WARNING: --unsafe-no-sandbox: repo code runs as a plain child process, with this user\'s files, processes and network; use it only for code you trust';

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).concat(['/usr/sbin', '/usr/bin', '/sbin', '/bin'])) {
    const p = join(dir, name);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

/** The host's layout as the sandbox needs it, or why it cannot be used. */
export function hostLayout(): HostLayout {
  // KGITOPS_BWRAP: a bubblewrap outside PATH (or a check of what happens without one).
  const bwrap = process.env.KGITOPS_BWRAP ? (existsSync(process.env.KGITOPS_BWRAP) ? process.env.KGITOPS_BWRAP : undefined) : which('bwrap');
  if (!bwrap) {
    throw new SandboxUnavailableError('bubblewrap (bwrap) is not installed, and kgitops runs repo code only in a sandbox',
      'install it: `apt-get install bubblewrap` (Debian, Ubuntu), `dnf install bubblewrap`, or engine/sandbox/install.sh; for a local experiment with code you trust, --unsafe-no-sandbox');
  }
  const prlimit = which('prlimit');
  if (!prlimit || !realpathSync(prlimit).startsWith('/usr/')) {
    throw new SandboxUnavailableError('prlimit (util-linux) was not found under /usr', 'install util-linux');
  }
  const rootEntries: { path: string; symlink?: string }[] = [];
  for (const path of ['/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32']) {
    try {
      const st = lstatSync(path);
      rootEntries.push(st.isSymbolicLink() ? { path, symlink: readlinkSync(path) } : { path });
    } catch { /* not on this host */ }
  }
  const node = realpathSync(process.execPath);
  const extraSystemDirs = node.startsWith('/usr/') ? [] : [dirname(dirname(node))];
  const path = [...new Set([dirname(process.execPath), dirname(node), '/usr/local/bin', '/usr/bin', '/bin'])].join(':');
  return { bwrap, prlimit, unshare: which('unshare'), setpriv: which('setpriv'), sh: which('sh') ?? '/bin/sh', rootEntries, extraSystemDirs, path };
}

interface Backend {
  readonly layout: HostLayout;
  readonly cgroups: CgroupSupport;
  readonly root?: { uid: number; gid: number; stageDir: string };
}

export class Sandbox {
  private static cached?: Promise<Sandbox>;
  private lastWarning = 0;

  private constructor(
    private readonly backend: Backend | undefined,
    private readonly warn: (message: string) => void,
  ) {}

  /**
   * The sandbox of this process: bubblewrap, checked once with a trial run. Rejects with
   * SandboxUnavailableError when it cannot be made.
   */
  static default(options: SandboxOptions = {}): Promise<Sandbox> {
    Sandbox.cached ??= Sandbox.detect(options);
    return Sandbox.cached;
  }

  /** Makes `default()` the unsafe mode for this process (the CLI's --unsafe-no-sandbox). */
  static useUnsafe(options: SandboxOptions = {}): void {
    Sandbox.cached = Promise.resolve(Sandbox.unsafe(options));
  }

  /** Runs repo code without a sandbox, warning on every run (--unsafe-no-sandbox). */
  static unsafe(options: SandboxOptions = {}): Sandbox {
    return new Sandbox(undefined, options.warn ?? ((m) => process.stderr.write(`${m}\n`)));
  }

  static async detect(options: SandboxOptions = {}): Promise<Sandbox> {
    if (process.platform !== 'linux') {
      throw new SandboxUnavailableError(`the sandbox needs Linux namespaces; this is ${process.platform}`, 'run kgitops on Linux (or in a Linux container), or pass --unsafe-no-sandbox for code you trust');
    }
    const layout = hostLayout();
    const isRoot = process.getuid?.() === 0;
    let root: Backend['root'];
    if (isRoot) {
      if (!layout.unshare || !layout.setpriv) {
        throw new SandboxUnavailableError('running as root, the sandbox needs util-linux\'s unshare and setpriv to drop to an unprivileged user', 'install util-linux, or run kgitops as an unprivileged user');
      }
      // Each launcher mounts its own tmpfs here, in a mount namespace of its own: the host only
      // ever sees this empty directory.
      root = { uid: options.uid ?? 65534, gid: options.gid ?? 65534, stageDir: mkdtempSync(join(tmpdir(), 'kgitops-stage-')) };
      process.once('exit', () => { try { rmSync(root!.stageDir, { recursive: true, force: true }); } catch { /* ignore */ } });
    }
    const sandbox = new Sandbox({ layout, cgroups: detectCgroups(), ...(root ? { root } : {}) }, options.warn ?? ((m) => process.stderr.write(`${m}\n`)));
    await sandbox.trial();
    return sandbox;
  }

  get isolated(): boolean {
    return this.backend !== undefined;
  }

  /** The user id repo code has inside the sandbox. */
  get uid(): number {
    return this.backend?.root?.uid ?? process.getuid?.() ?? 0;
  }

  /** What the sandbox is, line by line (`kgitops sandbox`, the engine's start-up log). */
  describe(extra: Partial<SandboxLimits> = {}): string[] {
    const limits = withLimits(baseLimits(), extra);
    const b = this.backend;
    if (!b) return ['none: --unsafe-no-sandbox (repo code runs as a plain child process)'];
    const version = spawnSync(b.layout.bwrap, ['--version'], { encoding: 'utf8' }).stdout.trim();
    return [
      `${version || 'bubblewrap'} (${b.layout.bwrap})`,
      b.root ? `user: uid ${b.root.uid} gid ${b.root.gid} (the engine is root; binds staged by util-linux unshare + mount, privileges dropped with setpriv)` : `user: uid ${process.getuid?.()} (the engine's own, in a user namespace)`,
      'namespaces: user, pid, network (none), ipc, uts, cgroup, mount; no further user namespaces; no capabilities, no_new_privs',
      `tree limits: ${b.cgroups.reason}`,
      `limits: memory ${formatSize(limits.memoryBytes)}, ${limits.processes} processes, ${limits.cpus} CPU, ${Math.round(limits.wallMs / 1000)} s wall, ${limits.openFiles} open files, output ${formatSize(limits.outputBytes)}, /tmp ${formatSize(limits.tmpBytes)}`,
    ];
  }

  /** Runs `true` in the sandbox: proves namespaces, binds and the user switch work here. */
  private async trial(): Promise<void> {
    const p = this.spawn({ command: ['/usr/bin/true'], cwd: '/', env: {}, binds: [], limits: { ...DEFAULT_LIMITS, wallMs: 15_000 } }, ['ignore', 'ignore', 'pipe']);
    let stderr = '';
    p.child.stderr!.on('data', (d: Buffer) => { if (stderr.length < 8000) stderr += d.toString(); });
    const exit = await p.exited;
    if (exit.code === 0) return;
    const said = stderr.trim().split('\n').slice(-3).join(' | ') || `exit code ${exit.code}`;
    const userns = /namespace|Operation not permitted|No permissions|setting up uid map/i.test(stderr);
    throw new SandboxUnavailableError(`bubblewrap cannot create the sandbox here: ${said}`,
      userns
        ? 'the kernel refuses unprivileged user namespaces: allow them (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0; on Ubuntu an AppArmor profile for bwrap), or in a cluster run the renderer as described in the README ("The sandbox in a cluster"); for code you trust, --unsafe-no-sandbox'
        : 'see the message above; `kgitops sandbox` shows what was detected; for code you trust, --unsafe-no-sandbox');
  }

  /**
   * Starts one sandboxed process. `stdio` follows child_process (0-2, then extra fds, 'ipc'
   * among them); inside the sandbox the fds have the same numbers.
   */
  spawn(spec: SandboxSpec, stdio: StdioOptions, options: SpawnOptions = {}): SandboxProcess {
    const started = performance.now();
    if (!this.backend) return this.spawnUnsafe(spec, stdio, started, options);
    const { layout, cgroups, root } = this.backend;
    let scope: CgroupScope | undefined;
    try {
      scope = cgroups.create(spec.limits);
    } catch (e) {
      this.warnOnce(`could not create a cgroup for the sandbox (${(e as Error).message}); the run is bounded by rlimits only`);
    }
    const ipc = Array.isArray(stdio) ? stdio.indexOf('ipc') : -1;
    const env = ipc >= 0 ? { ...spec.env, NODE_CHANNEL_FD: String(ipc), NODE_CHANNEL_SERIALIZATION_MODE: 'json' } : spec.env;
    // With a cgroup counting the tree, the per-user rlimit sits a little above it, so that the
    // cgroup refuses first and says so (pids.events): the error can then name the limit.
    const limits = scope ? { ...spec.limits, processes: spec.limits.processes + 32 } : spec.limits;
    const launch = buildLaunch({ ...spec, env, limits }, layout, { ...(root ? { root } : {}), cgroupProcs: scope?.procsFiles ?? [] });
    const child = spawn(launch.file, launch.args, { env: launch.env, stdio, detached: true });
    return this.supervise(child, spec, started, scope, options);
  }

  private spawnUnsafe(spec: SandboxSpec, stdio: StdioOptions, started: number, options: SpawnOptions): SandboxProcess {
    this.warnOnce(ENGINE_UNSAFE_WARNING);
    const [file, ...args] = spec.command;
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', TMPDIR: tmpdir(), ...spec.env };
    const child = spawn(file, args, { cwd: spec.cwd, env, stdio, detached: true });
    return this.supervise(child, spec, started, undefined, options);
  }

  private supervise(child: ChildProcess, spec: SandboxSpec, started: number, scope: CgroupScope | undefined, options: SpawnOptions): SandboxProcess {
    let timedOut = false;
    const kill = () => {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
      try { child.kill('SIGKILL'); } catch { /* gone */ }
    };
    let timer: NodeJS.Timeout | undefined;
    const arm = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => { timedOut = true; kill(); }, ms);
      timer.unref();
    };
    if (!options.deferTimeout) arm(spec.limits.wallMs);
    const exited = new Promise<SandboxExit>((resolve) => {
      let settled = false;
      const finish = async (code: number | null, signal: NodeJS.Signals | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // The pid namespace ends with its first process; the cgroup catches anything else.
        try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
        const oomKilled = scope?.oomKilled() ?? false;
        const processLimitHit = scope?.processLimitHit() ?? false;
        // The pid namespace is gone with its init; the cgroup is emptied and removed as well
        // (quickly: a dying process may still be listed for a moment).
        await scope?.destroy().catch(() => {});
        resolve({ code, signal, timedOut, oomKilled, processLimitHit, launchFailed: this.backend !== undefined && code === LAUNCH_FAILED, durationMs: Math.round(performance.now() - started) });
      };
      child.once('exit', (code, signal) => void finish(code, signal));
      child.once('error', () => void finish(null, null));
    });
    return { child, kill, arm, exited };
  }

  private warnOnce(message: string): void {
    // Once per run of repo code, not once per process of it (an app and its policies start together).
    const now = Date.now();
    if (now - this.lastWarning < 2000) return;
    this.lastWarning = now;
    this.warn(message);
  }
}

/** Whether stderr holds the launcher's own complaint (the sandbox, not the app, failed). */
export function launcherMessage(stderr: string): string | undefined {
  const line = stderr.split('\n').find((l) => l.startsWith(LAUNCH_MARK) || l.startsWith('bwrap: '));
  return line?.replace(LAUNCH_MARK, '').trim();
}

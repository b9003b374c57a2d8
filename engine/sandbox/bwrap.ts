/**
 * The command line that starts one sandboxed process with bubblewrap. Pure: every decision about
 * what the sandbox sees is made here and unit-tested without starting anything.
 *
 * Inside, the process has
 *  - its own user, pid, network, ipc, uts and cgroup namespaces (no network at all: the loopback
 *    it sees is its own), and cannot create further user namespaces;
 *  - a root file system of its own: /usr (and the /bin, /lib... links of a merged-/usr host)
 *    read-only, a fresh /proc showing only its own processes, a minimal /dev, a private /tmp
 *    (tmpfs, size-capped), and read-only binds of exactly the paths it was given (its checkout,
 *    its node_modules, the engine's own packages). No /etc, no $HOME, no /sys, no sockets;
 *  - no capabilities and no_new_privs, an environment of exactly the variables given;
 *  - rlimits on processes, memory, CPU time, open files and file size, set by prlimit inside the
 *    sandbox, after the user namespace exists, so that the process count is of the sandbox's
 *    own processes only.
 *
 * As root, bubblewrap itself never runs as root: a launcher (util-linux unshare + mount, as
 * root, in a private mount namespace of its own) binds the sources into a staging tmpfs, joins
 * the cgroup and drops to the sandbox user with setpriv; bubblewrap then binds from the staging
 * paths, which the unprivileged user can reach even when the real ones (under /root) it cannot.
 */
import type { SandboxLimits } from './limits.js';

export interface Bind {
  /** Path on the host. */
  readonly source: string;
  /** Path inside the sandbox. @default source */
  readonly target?: string;
}

export interface SandboxSpec {
  /** argv inside the sandbox. */
  readonly command: readonly string[];
  /** Working directory inside the sandbox. */
  readonly cwd: string;
  /** The whole environment inside the sandbox (PATH, HOME and TMPDIR get defaults). */
  readonly env: Readonly<Record<string, string>>;
  /** Read-only binds: the checkout, dependencies, the engine's packages. */
  readonly binds: readonly Bind[];
  readonly limits: SandboxLimits;
}

/** How the host's root file system is laid out, and where the tools are (see host.ts). */
export interface HostLayout {
  readonly bwrap: string;
  readonly prlimit: string;
  readonly unshare?: string;
  readonly setpriv?: string;
  readonly sh: string;
  /** Top-level entries of a merged-/usr host: /bin -> usr/bin as a symlink, or a directory to bind. */
  readonly rootEntries: readonly { readonly path: string; readonly symlink?: string }[];
  /** Directories outside /usr that hold the node binary and its libraries. */
  readonly extraSystemDirs: readonly string[];
  /** The directories of PATH inside the sandbox. */
  readonly path: string;
}

export interface LaunchIdentity {
  /** Running as root: stage the binds and drop to this uid/gid before bubblewrap. */
  readonly root?: { readonly uid: number; readonly gid: number; readonly stageDir: string };
  /** cgroup.procs files the launcher joins before anything else runs. */
  readonly cgroupProcs: readonly string[];
}

export interface Launch {
  readonly file: string;
  readonly args: string[];
  /** The environment of the launcher and of bubblewrap's own processes (visible in the sandbox's /proc/1/environ): nothing but PATH. */
  readonly env: Record<string, string>;
}

/** Exit code of the launcher when it cannot set the sandbox up (never an app's own code path). */
export const LAUNCH_FAILED = 125;
export const LAUNCH_MARK = 'kgitops-sandbox:';

/** Joins the cgroups, then (root) stages the binds; the rest of "$@" is the command to exec. */
const LAUNCHER = `set -u
ncg=$1; shift
while [ "$ncg" -gt 0 ]; do
  echo $$ > "$1" 2>/dev/null || { echo "${LAUNCH_MARK} cannot join cgroup $1" >&2; exit ${LAUNCH_FAILED}; }
  shift; ncg=$((ncg - 1))
done
stage=$1; nsrc=$2; shift 2
if [ "$nsrc" -gt 0 ]; then
  mount -t tmpfs -o mode=0755,size=1m kgitops-stage "$stage" || { echo "${LAUNCH_MARK} cannot mount the staging tmpfs on $stage" >&2; exit ${LAUNCH_FAILED}; }
  i=0
  while [ "$i" -lt "$nsrc" ]; do
    if [ -d "$1" ]; then mkdir "$stage/$i"; else : > "$stage/$i"; fi
    mount --bind "$1" "$stage/$i" || { echo "${LAUNCH_MARK} cannot bind $1" >&2; exit ${LAUNCH_FAILED}; }
    shift; i=$((i + 1))
  done
fi
exec "$@"`;

/** CPU seconds per process: past the wall time on every core it may use, so the wall time ends an endless loop first (and says so). */
export function cpuSeconds(l: SandboxLimits): number {
  return Math.max(1, Math.ceil(l.cpuSeconds ?? (l.wallMs / 1000) * Math.max(1, l.cpus) + 5));
}

function rlimits(l: SandboxLimits): string[] {
  const cpu = cpuSeconds(l);
  return [
    `--nproc=${l.processes}`,
    `--nofile=${l.openFiles}`,
    `--cpu=${cpu}`,
    // Each process's writable memory; the tree as a whole is bounded by the cgroup.
    `--data=${l.memoryBytes}`,
    `--fsize=${l.tmpBytes}`,
    '--core=0',
  ];
}

/** Removes binds that another bind already covers at the same relative place. */
export function normalizeBinds(binds: readonly Bind[]): Bind[] {
  const list = binds.map((b) => ({ source: b.source.replace(/(.)\/+$/, '$1'), target: (b.target ?? b.source).replace(/(.)\/+$/, '$1') }));
  const covered = (b: Bind & { target: string }, by: Bind & { target: string }) =>
    b !== by && (b.source === by.source ? b.target === by.target && list.indexOf(b) > list.indexOf(by)
      : b.source.startsWith(`${by.source}/`) && b.target === by.target + b.source.slice(by.source.length));
  const kept = list.filter((b) => !list.some((o) => covered(b, o)));
  // Parents before children, so that a bind inside another one is mounted over it.
  return kept.sort((a, b) => a.target.split('/').length - b.target.split('/').length || a.target.localeCompare(b.target));
}

export function buildLaunch(spec: SandboxSpec, host: HostLayout, id: LaunchIdentity): Launch {
  const binds = normalizeBinds(spec.binds);
  const sources = id.root ? binds.map((b) => b.source) : [];
  const from = (b: Bind, i: number) => (id.root ? `${id.root.stageDir}/${i}` : b.source);

  const bwrap: string[] = [
    host.bwrap,
    '--unshare-all', '--unshare-user', '--disable-userns',
    '--die-with-parent', '--new-session', '--cap-drop', 'ALL',
    '--hostname', 'kgitops-sandbox',
    '--ro-bind', '/usr', '/usr',
  ];
  for (const e of host.rootEntries) {
    if (e.symlink !== undefined) bwrap.push('--symlink', e.symlink, e.path);
    else bwrap.push('--ro-bind', e.path, e.path);
  }
  for (const d of host.extraSystemDirs) bwrap.push('--ro-bind', d, d);
  bwrap.push('--proc', '/proc', '--dev', '/dev', '--size', String(spec.limits.tmpBytes), '--tmpfs', '/tmp');
  binds.forEach((b, i) => bwrap.push('--ro-bind', from(b, i), b.target!));
  bwrap.push('--chdir', spec.cwd, '--clearenv');
  const env: Record<string, string> = { PATH: host.path, HOME: '/tmp', TMPDIR: '/tmp', LANG: 'C.UTF-8', TZ: 'UTC', ...spec.env };
  for (const [k, v] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) bwrap.push('--setenv', k, v);
  bwrap.push('--', host.prlimit, ...rlimits(spec.limits), '--', ...spec.command);

  const launcherEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
  if (id.root) {
    if (!host.unshare || !host.setpriv) throw new Error('running as root needs util-linux unshare and setpriv');
    const drop = [host.setpriv, `--reuid=${id.root.uid}`, `--regid=${id.root.gid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--'];
    return {
      file: host.unshare,
      args: ['--mount', '--propagation', 'private', '--', host.sh, '-c', LAUNCHER, 'kgitops-sandbox',
        String(id.cgroupProcs.length), ...id.cgroupProcs, id.root.stageDir, String(sources.length), ...sources, ...drop, ...bwrap],
      env: launcherEnv,
    };
  }
  if (id.cgroupProcs.length) {
    return {
      file: host.sh,
      args: ['-c', LAUNCHER, 'kgitops-sandbox', String(id.cgroupProcs.length), ...id.cgroupProcs, '/nonexistent', '0', ...bwrap],
      env: launcherEnv,
    };
  }
  return { file: bwrap[0], args: bwrap.slice(1), env: launcherEnv };
}

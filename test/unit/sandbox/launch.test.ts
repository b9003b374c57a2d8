/**
 * What the sandbox is made of, checked on the command line alone: the namespaces, the file
 * system, the environment, the limits, and how a root engine drops to an unprivileged user.
 * (test/unit/sandbox/hostile.test.ts runs real hostile apps in it.)
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, sandboxConfig } from '../../../engine/config.js';
import { buildLaunch, type HostLayout, normalizeBinds } from '../../../engine/sandbox/bwrap.js';
import { cgroupMounts, detectCgroups, ownCgroups } from '../../../engine/sandbox/cgroup.js';
import { DEFAULT_LIMITS, GiB, heapMiB, MiB, parseSize } from '../../../engine/sandbox/limits.js';

const host: HostLayout = {
  bwrap: '/usr/bin/bwrap', prlimit: '/usr/bin/prlimit', unshare: '/usr/bin/unshare', setpriv: '/usr/bin/setpriv', sh: '/bin/sh',
  rootEntries: [{ path: '/bin', symlink: 'usr/bin' }, { path: '/lib', symlink: 'usr/lib' }, { path: '/lib64' }],
  extraSystemDirs: [], path: '/usr/bin:/bin',
};
const spec = {
  command: ['/usr/bin/node', 'main.js'], cwd: '/repo/app', env: { FORCE_COLOR: '0' },
  binds: [{ source: '/repo' }, { source: '/repo/app' }, { source: '/engine/node_modules' }], limits: DEFAULT_LIMITS,
};

/** The value following `flag` at each of its occurrences. */
function values(args: string[], flag: string, n = 1): string[][] {
  const out: string[][] = [];
  args.forEach((a, i) => { if (a === flag) out.push(args.slice(i + 1, i + 1 + n)); });
  return out;
}

describe('the bubblewrap command line', () => {
  it('unshares every namespace, the network included, forbids new user namespaces, and drops all capabilities', () => {
    const { file, args } = buildLaunch(spec, host, { cgroupProcs: [] });
    expect(file).toBe('/usr/bin/bwrap');
    for (const flag of ['--unshare-all', '--unshare-user', '--disable-userns', '--die-with-parent', '--new-session']) expect(args).toContain(flag);
    expect(args).not.toContain('--share-net');
    expect(values(args, '--cap-drop')).toEqual([['ALL']]);
  });

  it('sees /usr, a fresh /proc and /dev, a size-capped private /tmp and the given binds read-only, nothing else', () => {
    const { args } = buildLaunch(spec, host, { cgroupProcs: [] });
    expect(values(args, '--ro-bind', 2)).toEqual([['/usr', '/usr'], ['/lib64', '/lib64'], ['/repo', '/repo'], ['/engine/node_modules', '/engine/node_modules']]);
    expect(values(args, '--bind', 2)).toEqual([]);
    expect(values(args, '--symlink', 2)).toEqual([['usr/bin', '/bin'], ['usr/lib', '/lib']]);
    expect(values(args, '--proc')).toEqual([['/proc']]);
    expect(values(args, '--dev')).toEqual([['/dev']]);
    expect(values(args, '--size')).toEqual([[String(DEFAULT_LIMITS.tmpBytes)]]);
    expect(values(args, '--tmpfs')).toEqual([['/tmp']]);
    expect(args.join(' ')).not.toMatch(/\/etc|\/home|\/root|\/sys|\/run|kube/);
  });

  it('starts from an empty environment: the launcher has PATH only (bubblewrap\'s own processes are visible inside), the app only what it is given', () => {
    const secret = 'ghp_not_for_the_sandbox';
    process.env.KGITOPS_GIT_TOKEN = secret;
    try {
      const { args, env } = buildLaunch(spec, host, { cgroupProcs: [] });
      expect(env).toEqual({ PATH: '/usr/sbin:/usr/bin:/sbin:/bin' });
      expect(args).toContain('--clearenv');
      expect(Object.fromEntries(values(args, '--setenv', 2).map(([k, v]) => [k, v]))).toEqual({
        FORCE_COLOR: '0', HOME: '/tmp', LANG: 'C.UTF-8', PATH: '/usr/bin:/bin', TMPDIR: '/tmp', TZ: 'UTC',
      });
      expect(JSON.stringify(args)).not.toContain(secret);
    } finally {
      delete process.env.KGITOPS_GIT_TOKEN;
    }
  });

  it('sets the rlimits inside the sandbox, right before the command', () => {
    const { args } = buildLaunch(spec, host, { cgroupProcs: [] });
    const at = args.indexOf('/usr/bin/prlimit');
    expect(args.slice(at - 1, at + 9)).toEqual(['--', '/usr/bin/prlimit', '--nproc=256', '--nofile=1024', '--cpu=245', `--data=${2 * GiB}`, `--fsize=${256 * MiB}`, '--core=0', '--', '/usr/bin/node']);
    expect(args.slice(-2)).toEqual(['/usr/bin/node', 'main.js']);
    expect(values(args, '--chdir')).toEqual([['/repo/app']]);
  });

  it('as root: stages the binds in a private mount namespace, joins the cgroups, and drops to the sandbox user before bubblewrap runs', () => {
    const { file, args } = buildLaunch(spec, host, {
      root: { uid: 65534, gid: 65534, stageDir: '/tmp/kgitops-stage-x' },
      cgroupProcs: ['/sys/fs/cgroup/memory/k/cgroup.procs', '/sys/fs/cgroup/pids/k/cgroup.procs'],
    });
    expect(file).toBe('/usr/bin/unshare');
    expect(args.slice(0, 4)).toEqual(['--mount', '--propagation', 'private', '--']);
    const script = args[args.indexOf('-c') + 1];
    expect(script).toContain('echo $$ > "$1"');
    expect(script).toContain('mount --bind "$1" "$stage/$i"');
    const rest = args.slice(args.indexOf('-c') + 3);
    expect(rest.slice(0, 3)).toEqual(['2', '/sys/fs/cgroup/memory/k/cgroup.procs', '/sys/fs/cgroup/pids/k/cgroup.procs']);
    expect(rest.slice(3, 7)).toEqual(['/tmp/kgitops-stage-x', '2', '/repo', '/engine/node_modules']);
    const setpriv = rest.indexOf('/usr/bin/setpriv');
    expect(rest.slice(setpriv, setpriv + 8)).toEqual(['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--', '/usr/bin/bwrap']);
    // bubblewrap binds the staged copies, at the real paths.
    expect(values(rest, '--ro-bind', 2).slice(-2)).toEqual([['/tmp/kgitops-stage-x/0', '/repo'], ['/tmp/kgitops-stage-x/1', '/engine/node_modules']]);
  });

  it('not as root, with a delegated cgroup: joins it first, then execs bubblewrap as the engine\'s own user', () => {
    const { file, args } = buildLaunch(spec, host, { cgroupProcs: ['/sys/fs/cgroup/k/cgroup.procs'] });
    expect(file).toBe('/bin/sh');
    expect(args.slice(2, 7)).toEqual(['kgitops-sandbox', '1', '/sys/fs/cgroup/k/cgroup.procs', '/nonexistent', '0']);
    expect(args[7]).toBe('/usr/bin/bwrap');
    expect(args).not.toContain('/usr/bin/setpriv');
  });

  it('drops binds that another bind already covers, and mounts parents first', () => {
    expect(normalizeBinds([{ source: '/a/b' }, { source: '/a/' }, { source: '/a' }, { source: '/x', target: '/a/x' }, { source: '/c', target: '/d' }])).toEqual([
      { source: '/a', target: '/a' }, { source: '/c', target: '/d' }, { source: '/x', target: '/a/x' },
    ]);
  });
});

describe('sandbox limits', () => {
  it('reads sizes as people write them', () => {
    expect(parseSize('64Mi')).toBe(64 * MiB);
    expect(parseSize('2Gi')).toBe(2 * GiB);
    expect(parseSize('512MiB')).toBe(512 * MiB);
    expect(parseSize('100M')).toBe(100_000_000);
    expect(parseSize(1024)).toBe(1024);
    for (const bad of ['', 'lots', '-1Mi', '0', '12Qi']) expect(parseSize(bad)).toBeUndefined();
  });

  it('reads sandbox: of kgitops.yaml, flags first, and says what is wrong with a bad value', () => {
    expect(sandboxConfig({ memory: '1Gi', maxOutput: '128Mi', processes: 64, cpus: 1, uid: 1000, gid: 1000 }, {})).toEqual({
      unsafe: false, limits: { memoryBytes: GiB, outputBytes: 128 * MiB, processes: 64, cpus: 1 }, uid: 1000, gid: 1000,
    });
    expect(sandboxConfig({ maxOutput: '128Mi' }, { maxOutput: '32Mi', unsafeNoSandbox: true })).toEqual({ unsafe: true, limits: { outputBytes: 32 * MiB } });
    expect(() => sandboxConfig({ memroy: '1Gi' }, {})).toThrow(/sandbox: unknown key\(s\) memroy/);
    expect(() => sandboxConfig({ memory: 'lots' }, {})).toThrow(/sandbox.memory: "lots" is not a size/);
    expect(() => sandboxConfig({ processes: -1 }, {})).toThrow(ConfigError);
  });

  it('leaves a quarter of the memory beyond the V8 heap for Buffers and code', () => {
    expect(heapMiB(DEFAULT_LIMITS)).toBe(1536);
  });
});

describe('cgroups', () => {
  const dirs: string[] = [];
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  it('finds the hierarchies and the process\'s own cgroups', () => {
    const mounts = cgroupMounts([
      '30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate',
      '31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid shared:10 - cgroup cgroup rw,memory',
      '32 25 0:28 / /sys/fs/cgroup/pids rw,nosuid shared:11 - cgroup cgroup rw,pids',
      '33 25 0:29 / /proc rw - proc proc rw',
    ].join('\n'));
    expect(mounts.map((m) => [m.point, m.fstype])).toEqual([['/sys/fs/cgroup/unified', 'cgroup2'], ['/sys/fs/cgroup/memory', 'cgroup'], ['/sys/fs/cgroup/pids', 'cgroup']]);
    const own = ownCgroups('8:pids:/\n4:memory:/process_api/x\n1:cpu,cpuacct:/a\n0::/user.slice/app.scope\n');
    expect([own.get('memory'), own.get('pids'), own.get('cpu'), own.get('cpuacct'), own.get('')]).toEqual(['/process_api/x', '/', '/a', '/a', '/user.slice/app.scope']);
  });

  it('uses a cgroup v2 subtree only where it is delegated, and writes the limits of each run there', async () => {
    const fs = mkdtempSync(join(tmpdir(), 'kgitops-fake-cgroup2-'));
    dirs.push(fs);
    const own = join(fs, 'engine.scope');
    mkdirSync(own);
    const mountinfo = `30 25 0:26 / ${fs} rw shared:9 - cgroup2 cgroup2 rw`;
    writeFileSync(join(own, 'cgroup.subtree_control'), 'cpu io\n');
    expect(detectCgroups({ mountinfo, procCgroup: '0::/engine.scope\n' }).version).toBeUndefined();
    expect(detectCgroups({ mountinfo, procCgroup: '0::/engine.scope\n' }).reason).toMatch(/does not delegate memory and pids/);

    writeFileSync(join(own, 'cgroup.subtree_control'), 'cpu memory pids\n');
    const support = detectCgroups({ mountinfo, procCgroup: '0::/engine.scope\n' });
    expect(support.version).toBe(2);
    // A real cgroupfs makes these files itself; here the scope directory starts empty.
    const scope = support.create({ ...DEFAULT_LIMITS, memoryBytes: 512 * MiB, processes: 64, cpus: 0.5 })!;
    const dir = scope.procsFiles[0].replace(/\/cgroup\.procs$/, '');
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    expect([read('memory.max'), read('pids.max'), read('cpu.max')]).toEqual([String(512 * MiB), '64', '50000 100000']);
    writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
    expect(scope.oomKilled()).toBe(true);
  });
});

// The harness must fail loudly, never skip: a missing binary or a control plane that does not
// come up rejects startControlPlane (and so the project's globalSetup) with a clear error, and
// leaves no process behind.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ControlPlaneError, LEVEL_BINARIES, startControlPlane } from '../cluster/controlplane.js';
import { makeGlobalSetup } from '../cluster/global-setup.js';
import { spawn } from 'node:child_process';
import { appendPid, isAlive, reapStaleRuns, spawnWatchdog, writeRunRecord } from '../cluster/processes.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kgitops-harness-test-'));
  vi.stubEnv('CI', 'true');
});
afterEach(() => {
  vi.unstubAllEnvs();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A bin dir where every binary is a shell script; `scripts` overrides some of them. */
function fakeBinDir(scripts: Record<string, string>): string {
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  for (const name of LEVEL_BINARIES.b) {
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${scripts[name] ?? 'exit 3'}\n`, { mode: 0o755 });
  }
  return bin;
}

describe('control-plane harness failures under CI=true', () => {
  it('rejects with a clear error naming the missing binaries', async () => {
    const bogus = path.join(tmp, 'no-such-bin-dir');
    const err = await startControlPlane({ level: 'a', binDir: bogus, cacheDir: tmp }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlPlaneError);
    const msg = (err as Error).message;
    expect(msg).toContain(`control-plane binaries missing in ${bogus}: etcd, kube-apiserver, kube-controller-manager`);
    expect(msg).toContain('CI=true');
    expect(msg).toContain('npm run cluster:build');
  });

  it('level b also requires kwok, kube-scheduler and kruise-manager', async () => {
    const bin = fakeBinDir({});
    fs.rmSync(path.join(bin, 'kwok'));
    fs.rmSync(path.join(bin, 'kruise-manager'));
    const err = await startControlPlane({ level: 'b', binDir: bin, cacheDir: tmp }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/binaries missing in .*: kwok, kruise-manager/);
  });

  it('the globalSetup throws (no skip, no on-demand build) when binaries are missing', async () => {
    vi.stubEnv('KGITOPS_BIN_DIR', path.join(tmp, 'nothing-here'));
    vi.stubEnv('KGITOPS_AUTO_BUILD', '1'); // ignored under CI
    const provide = vi.fn();
    const setup = makeGlobalSetup('a');
    await expect(setup({ provide } as never)).rejects.toThrow(/control-plane binaries missing/);
    expect(provide).not.toHaveBeenCalled();
  });

  it('reports a component that exits during start-up, with its log', async () => {
    const bin = fakeBinDir({ etcd: 'echo "etcd: fatal: cannot bind" >&2; exit 1' });
    const err = await startControlPlane({ level: 'a', binDir: bin, cacheDir: tmp }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlPlaneError);
    expect((err as Error).message).toContain('etcd exited (1) while waiting for etcd health');
    expect((err as Error).message).toContain('etcd: fatal: cannot bind');
    // the run's state directory is gone
    expect(fs.readdirSync(path.join(tmp, 'runs'))).toEqual([]);
  });

  it('times out on a component that never becomes healthy and kills it', async () => {
    const marker = path.join(tmp, 'etcd.pid');
    const bin = fakeBinDir({ etcd: `echo $$ > ${marker}; exec sleep 600` });
    const err = await startControlPlane({ level: 'a', binDir: bin, cacheDir: tmp, timeoutMs: 2000 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ControlPlaneError);
    expect((err as Error).message).toContain('timed out waiting for etcd health');
    const pid = Number(fs.readFileSync(marker, 'utf8'));
    expect(pid).toBeGreaterThan(0);
    expect(isAlive(pid)).toBe(false);
  });
});

describe('process cleanup', () => {
  /** A detached `sleep` standing in for a component; returns its pid. */
  function detachedSleep(): number {
    const child = spawn('/bin/sleep', ['600'], { detached: true, stdio: 'ignore' });
    child.unref();
    return child.pid!;
  }
  async function gone(pid: number, timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!isAlive(pid)) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  it('the watchdog kills the components and removes the state when its owner dies (even by SIGKILL)', async () => {
    const stateDir = path.join(tmp, 'run');
    fs.mkdirSync(stateDir);
    const owner = detachedSleep();
    const component = detachedSleep();
    const dog = spawnWatchdog(owner, stateDir);
    appendPid(stateDir, dog);
    appendPid(stateDir, { name: 'fake', pid: component, bin: '/bin/sleep' });
    await new Promise((r) => setTimeout(r, 300));
    expect(isAlive(component)).toBe(true);
    process.kill(owner, 'SIGKILL');
    expect(await gone(component)).toBe(true);
    expect(await gone(dog.pid)).toBe(true);
    expect(fs.existsSync(stateDir)).toBe(false);
  });

  it('reapStaleRuns kills what a dead owner left behind, but not persistent or live runs', async () => {
    const runs = path.join(tmp, 'runs');
    const mk = (name: string, ownerPid: number, persistent: boolean) => {
      const dir = path.join(runs, name);
      fs.mkdirSync(dir, { recursive: true });
      writeRunRecord(dir, { ownerPid, persistent, level: 'a', stateDir: dir, kubeconfigPath: '', startedAt: '' });
      const pid = detachedSleep();
      appendPid(dir, { name: 'fake', pid, bin: '/bin/sleep' });
      return { dir, pid };
    };
    const deadOwner = 2 ** 22 + 12345; // above pid_max: never alive
    const stale = mk('stale', deadOwner, false);
    const up = mk('up', deadOwner, true);
    const live = mk('live', process.ppid, false);
    try {
      expect(await reapStaleRuns(runs)).toBe(1);
      expect(isAlive(stale.pid)).toBe(false);
      expect(fs.existsSync(stale.dir)).toBe(false);
      expect(isAlive(up.pid)).toBe(true);
      expect(isAlive(live.pid)).toBe(true);
      expect(await reapStaleRuns(runs, { includePersistent: true })).toBe(1);
      expect(isAlive(up.pid)).toBe(false);
    } finally {
      for (const p of [stale.pid, up.pid, live.pid]) if (isAlive(p)) process.kill(p, 'SIGKILL');
    }
  });
});

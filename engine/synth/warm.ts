/**
 * Pre-started synth workers (see worker.ts). One spare worker waits at all times, in its own
 * sandbox; a synth takes it and a new spare starts in the background. Used for apps whose
 * command is `npx tsx <file>` or `tsx <file>` and that run against the engine's own packages;
 * anything else runs cold.
 *
 * A sandbox's binds are fixed when it starts, before the commit is known, so each worker gets an
 * empty slot directory of its own, bound read-only; when its commit arrives, the checkout is
 * copied into the slot as hard links (no file content is copied, and the sandbox cannot write
 * through its read-only bind). The worker sees that commit's files and nothing else.
 */
import { chmodSync, copyFileSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { baseLimits, type Bind, heapMiB, type Sandbox, type SandboxExit, type SandboxLimits, type SandboxProcess, withLimits } from '../sandbox/index.js';
import { CappedOutput } from './capture.js';
import { CHILD_NODE_FLAGS, engineBinds, MODULE_EXT } from './runtime.js';
import { transformCacheBinds } from './transform-cache.js';

const WORKER = fileURLToPath(new URL(`./worker${MODULE_EXT}`, import.meta.url));

export { TSX_LOADER, tsxEntry } from './runtime.js';

interface Worker {
  readonly process: SandboxProcess;
  readonly slot: string;
  readonly ready: Promise<void>;
  readonly stderr: { text: string };
}

export interface WarmPoolOptions {
  readonly sandbox: Sandbox;
  /** Where slot directories are made: on the file system of the checkouts, for hard links. */
  readonly slotsDir: string;
  /** Binds every worker needs besides its slot and the engine (the engine runtime's node_modules). */
  readonly binds?: readonly Bind[];
  /** Memory, processes and CPU of each worker (wall time and output are per run). */
  readonly limits?: Partial<SandboxLimits>;
}

export interface WarmRun {
  readonly exit: SandboxExit;
  readonly stderr: string;
  readonly output: CappedOutput;
  /** Where the checkout was inside the worker: paths in stderr under it belong to the checkout. */
  readonly snapshotRoot: string;
}

/** Copies the files of `from` into `to` as hard links (a copy across file systems); links stay links. */
export function snapshotTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const e of readdirSync(from, { withFileTypes: true })) {
    if (e.name === '.git') continue;
    const src = join(from, e.name);
    const dst = join(to, e.name);
    if (e.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
    else if (e.isDirectory()) snapshotTree(src, dst);
    else if (e.isFile()) {
      try { linkSync(src, dst); } catch { copyFileSync(src, dst); }
    }
  }
}

export class WarmSynthPool {
  private readonly spares: Worker[] = [];
  /** Spares kept ready: one for the app, and one for its policies once the repo has policies/. */
  private spareCount = 1;
  private closed = false;
  private readonly limits: SandboxLimits;

  /** The engine's compile cache, bound read-only into every worker once it is there. */
  private cacheBinds: Bind[] = [];
  private readonly cacheReady: Promise<void>;

  constructor(private readonly o: WarmPoolOptions) {
    this.limits = withLimits(baseLimits(), o.limits);
    mkdirSync(o.slotsDir, { recursive: true });
    this.cacheReady = transformCacheBinds(o.sandbox).then((b) => { this.cacheBinds = b; }, () => {});
  }

  private start(): Worker {
    const slot = mkdtempSync(join(this.o.slotsDir, 'slot-'));
    // mkdtemp makes it 0700; the sandbox's user (not the engine's, when the engine is root) reads it.
    chmodSync(slot, 0o755);
    const process_ = this.o.sandbox.spawn({
      command: [process.execPath, `--max-old-space-size=${heapMiB(this.limits)}`, ...CHILD_NODE_FLAGS, WORKER],
      cwd: slot, env: { FORCE_COLOR: '0' },
      binds: [{ source: slot }, ...engineBinds(), ...this.cacheBinds, ...(this.o.binds ?? [])],
      limits: this.limits,
    }, ['ignore', 'ignore', 'pipe', 'ipc', 'pipe', 'pipe'], { deferTimeout: true });
    const { child } = process_;
    const stderr = { text: '' };
    child.stderr!.on('data', (d: Buffer) => { if (stderr.text.length < 256_000) stderr.text += d.toString(); });
    const ready = new Promise<void>((resolve, reject) => {
      child.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(`unexpected message ${String(m)}`))));
      child.once('exit', (code) => reject(new Error(`synth worker exited during start-up (code ${code}): ${stderr.text.trim().split('\n').slice(-3).join(' | ')}`)));
    });
    ready.catch(() => {});
    void process_.exited.then(() => rmSync(slot, { recursive: true, force: true }));
    return { process: process_, slot, ready, stderr };
  }

  /** Starts spare workers now (call at engine start-up), up to the number kept ready. */
  prewarm(): void {
    void this.cacheReady.then(() => {
      while (!this.closed && this.spares.length < this.spareCount) this.spares.push(this.start());
    });
  }

  /** How many workers to keep ready: 2 when each commit also runs the repo's policies. */
  keepReady(count: number): void {
    this.spareCount = Math.max(1, count);
    while (this.spares.length > this.spareCount) this.spares.pop()!.process.kill();
    this.prewarm();
  }

  private take(): Worker {
    const w = this.spares.shift() ?? this.start();
    // The next commit's worker starts while this one runs.
    setImmediate(() => this.prewarm());
    return w;
  }

  /**
   * Serves the policies of `appDir` (its policies/, in the checkout `root`) from a warm worker:
   * the policy protocol then runs over the returned process's IPC channel, `ready` first.
   */
  async policies(job: { appDir: string; root: string; limits: SandboxLimits }): Promise<{ process: SandboxProcess; ready: Promise<void> }> {
    const w = this.take();
    try {
      await w.ready;
    } catch (e) {
      w.process.kill();
      throw e;
    }
    const snapshotRoot = join(w.slot, 'checkout');
    snapshotTree(job.root, snapshotRoot);
    const cwd = join(snapshotRoot, relative(job.root, job.appDir));
    const ready = new Promise<void>((resolve) => w.process.child.once('message', () => resolve()));
    w.process.arm(job.limits.wallMs);
    w.process.child.send({ kind: 'policies', cwd, dir: join(cwd, 'policies') });
    return { process: w.process, ready };
  }

  /** Runs one app (`entry` in `appDir` of the checkout `root`) in a warm worker; resolves when it exits. */
  async run(job: { appDir: string; root: string; entry: string; env: Record<string, string>; limits: SandboxLimits }): Promise<WarmRun> {
    const w = this.take();
    const output = new CappedOutput(job.limits.outputBytes, () => w.process.kill());
    const snapshotRoot = join(w.slot, 'checkout');
    try {
      await w.ready;
    } catch (e) {
      w.process.kill();
      const exit = await w.process.exited;
      return { exit: { ...exit, code: exit.code ?? 1 }, stderr: (e as Error).message, output, snapshotRoot };
    }
    w.stderr.text = '';
    snapshotTree(job.root, snapshotRoot);
    const cwd = join(snapshotRoot, relative(job.root, job.appDir));
    const pipes = w.process.child.stdio as unknown as NodeJS.ReadableStream[];
    const reading = Promise.all([output.read(pipes[4], 0), output.read(pipes[5], 1)]);
    w.process.arm(job.limits.wallMs);
    w.process.child.send({ cwd, entry: join(cwd, job.entry), env: { ...job.env, KGITOPS_SYNTH_OUTPUT: '/dev/fd/4', CDK8S_OUTDIR: '/tmp/cdk8s.out' } });
    const exit = await w.process.exited;
    await reading;
    return { exit, stderr: w.stderr.text, output, snapshotRoot };
  }

  close(): void {
    this.closed = true;
    for (const w of this.spares.splice(0)) w.process.kill();
  }
}

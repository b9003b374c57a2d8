/**
 * Pre-started synth workers (see worker.ts). One spare worker waits at all times; a synth takes
 * it and a new spare starts in the background. Used for apps whose command is `npx tsx <file>`
 * or `tsx <file>` and that run against the engine's own packages; anything else runs its
 * command as written.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
// tsx's full loader (ESM and CommonJS hooks): a repo's main.ts without "type": "module" is CommonJS.
/** tsx's loader, for `node --import`: child processes that run a repo's TypeScript. */
export const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface SpawnResult { code: number | null; stderr: string; timedOut: boolean }

/** The entry file of a `npx tsx main.ts` / `tsx main.ts` command, or undefined. */
export function tsxEntry(command: string): string | undefined {
  const m = /^\s*(?:npx\s+(?:--yes\s+)?)?tsx\s+([^\s;&|<>]+\.[cm]?[jt]sx?)\s*$/.exec(command);
  return m?.[1];
}

interface Worker { child: ChildProcess; ready: Promise<void>; stderr: { text: string } }

export class WarmSynthPool {
  private spare?: Worker;

  constructor(private readonly env: Record<string, string>) {}

  private start(): Worker {
    const child = spawn(process.execPath, ['--import', TSX_LOADER, WORKER], {
      env: this.env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], detached: true,
    });
    const stderr = { text: '' };
    child.stderr!.on('data', (d: Buffer) => { if (stderr.text.length < 256_000) stderr.text += d.toString(); });
    const ready = new Promise<void>((resolve, reject) => {
      child.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(`unexpected message ${String(m)}`))));
      child.once('exit', (code) => reject(new Error(`synth worker exited during start-up (code ${code}): ${stderr.text.trim().split('\n').slice(-3).join(' | ')}`)));
    });
    ready.catch(() => {});
    return { child, ready, stderr };
  }

  /** Starts a spare worker now (call at engine start-up). */
  prewarm(): void {
    this.spare ??= this.start();
  }

  /** Runs one app in a warm worker; resolves when it exits. */
  async run(cwd: string, entry: string, jobEnv: Record<string, string>, timeoutMs: number): Promise<SpawnResult> {
    const w = this.spare ?? this.start();
    this.spare = undefined;
    try {
      await w.ready;
    } catch (e) {
      return { code: 1, stderr: (e as Error).message, timedOut: false };
    } finally {
      // The next commit's worker starts while this one runs.
      setImmediate(() => this.prewarm());
    }
    w.stderr.text = '';
    return new Promise((resolve) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        try { process.kill(-w.child.pid!, 'SIGKILL'); } catch { /* gone */ }
      }, timeoutMs);
      w.child.once('exit', (code) => { clearTimeout(timer); resolve({ code, stderr: w.stderr.text, timedOut }); });
      w.child.send({ cwd, entry: join(cwd, entry), env: jobEnv });
    });
  }

  close(): void {
    if (this.spare) {
      try { process.kill(-this.spare.child.pid!, 'SIGKILL'); } catch { /* gone */ }
      this.spare = undefined;
    }
  }
}

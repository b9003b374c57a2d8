/**
 * A compile cache for the sandbox, made by the engine, read-only to repo code.
 *
 * tsx caches each TypeScript file it compiles in `$TMPDIR/tsx-<uid>`. A sandbox starts with an
 * empty private /tmp, so without help every sandboxed process compiles the engine's DSL and
 * policy API again (about half a second, twice over for ESM and CommonJS). Sharing a writable
 * cache with repo code would let one commit plant compiled code for the files of the next
 * (entries are keyed by the source's hash, which is public). So the engine fills a cache of its
 * own, in a process of its own that loads nothing but the engine's modules (the synth worker's
 * preload), and binds it read-only where tsx looks inside the sandbox; tsx's writes of the app's
 * own files fail there quietly, and those stay uncached.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bind } from '../sandbox/bwrap.js';
import type { Sandbox } from '../sandbox/index.js';
import { CHILD_NODE_FLAGS, engineFingerprint, MODULE_EXT } from './runtime.js';

const WORKER = fileURLToPath(new URL(`./worker${MODULE_EXT}`, import.meta.url));

/** tsx's time buckets (1e8 ms); it reads entries of the last 7. Reseed well before they expire. */
const BUCKET_MS = 1e8;
const RESEED_AFTER_BUCKETS = 4;

export function defaultCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kruise-gitops', 'engine');
}

let seeding: { cacheDir: string; done: Promise<string | undefined> } | undefined;

/**
 * The engine's version and place, as far as compiled output goes (its sources' mtimes are in
 * tsx's keys anyway): another checkout of the engine seeds a cache of its own files.
 */
function engineKey(): string {
  return createHash('sha256').update(engineFingerprint()).update('\0').update(process.version).digest('hex').slice(0, 16);
}

/**
 * Fills the cache once per engine version and few days (at most one seeding per process);
 * resolves to its directory, or undefined when it could not be made (sandboxed runs then just
 * compile more).
 */
export function seedTransformCache(cacheDir: string = defaultCacheDir()): Promise<string | undefined> {
  if (seeding) return seeding.done;
  const done = (async () => {
    const dir = join(cacheDir, 'transform-cache', engineKey());
    const marker = join(dir, 'seeded');
    const bucket = Math.floor(Date.now() / BUCKET_MS);
    const uid = process.geteuid?.() ?? 0;
    const made = join(dir, `tsx-${uid}`);
    try {
      if (existsSync(marker) && bucket - Number(readFileSync(marker, 'utf8')) < RESEED_AFTER_BUCKETS && existsSync(made)) return made;
      mkdirSync(dir, { recursive: true });
      const code = await new Promise<number | null>((resolve) => {
        // tsx's keys include the tsconfig it finds from the working directory: '/' has none, as a
        // worker's slot has none.
        const child = spawn(process.execPath, [...CHILD_NODE_FLAGS, WORKER], {
          cwd: '/', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TMPDIR: dir }, stdio: 'ignore',
        });
        child.once('error', () => resolve(null));
        child.once('exit', (c) => resolve(c));
      });
      if (code !== 0) return undefined;
      writeFileSync(`${marker}.tmp`, String(bucket));
      renameSync(`${marker}.tmp`, marker);
      return existsSync(made) ? made : undefined;
    } catch {
      rmSync(`${marker}.tmp`, { force: true });
      return undefined;
    }
  })();
  seeding = { cacheDir, done };
  return done;
}

/** The read-only bind of the seeded cache where tsx looks in the sandbox; none without a sandbox. */
export async function transformCacheBinds(sandbox: Sandbox, cacheDir?: string): Promise<Bind[]> {
  if (!sandbox.isolated) return [];
  const dir = await seedTransformCache(cacheDir);
  return dir ? [{ source: dir, target: `/tmp/tsx-${sandbox.uid}` }] : [];
}

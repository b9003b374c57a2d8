/**
 * The two sides of a diff: a git ref checked out in a temporary worktree of the local repo, or
 * the working tree as it is. A worktree reuses the working tree's node_modules when its
 * lockfile is the same (the usual case in a pull request), and otherwise gets the engine's
 * cached install (engine/synth/dependencies.ts).
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { LOCKFILES, prepareDependencies } from '../synth/dependencies.js';
import { UsageError } from '../synth/run-app.js';

const run = promisify(execFile);

async function git(cwd: string, args: string[]): Promise<string> {
  try {
    // The worktrees are ours: no hook (post-checkout ...) or fsmonitor of the repo runs for them.
    const { stdout } = await run('git', ['-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false', ...args], { cwd, maxBuffer: 16 * 1024 * 1024 });
    return stdout.trim();
  } catch (e) {
    const stderr = String((e as { stderr?: string }).stderr ?? (e as Error).message).trim();
    throw new UsageError(`git ${args.join(' ')}: ${stderr.split('\n').slice(-2).join(' ')}`);
  }
}

export interface Side {
  /** What the user named: a ref, or "working tree". */
  readonly label: string;
  /** Commit SHA, unless this is the working tree. */
  readonly sha?: string;
  /** The app directory (with cdk8s.yaml) on this side. */
  readonly appDir: string;
  /** Removes the temporary worktree, if any. */
  dispose(): Promise<void>;
}

export interface Repo {
  readonly root: string;
  /** The app directory relative to the repo root. */
  readonly path: string;
}

export async function findRepo(dir: string): Promise<Repo> {
  const abs = resolve(dir);
  if (!existsSync(abs)) throw new UsageError(`${dir}: no such directory`);
  let root: string;
  try {
    root = await git(abs, ['rev-parse', '--show-toplevel']);
  } catch {
    throw new UsageError(`${dir} is not inside a git repository: kgitops diff compares git refs`, 'run it in a clone of your repo, or pass the directory of the app inside one');
  }
  return { root, path: relative(root, abs) };
}

export function workingTree(repo: Repo): Side {
  return { label: 'working tree', appDir: join(repo.root, repo.path), async dispose() {} };
}

/** Checks out `ref` in a temporary worktree (detached) and makes node_modules available. */
export async function checkoutRef(repo: Repo, ref: string, cacheDir: string, onProgress?: (m: string) => void): Promise<Side> {
  let sha: string;
  try {
    sha = await git(repo.root, ['rev-parse', '--verify', '--end-of-options', `${ref}^{commit}`]);
  } catch {
    throw new UsageError(`unknown git ref "${ref}"`, 'pass a branch, tag or commit that exists locally (in CI: fetch the base branch first, e.g. `git fetch origin main`)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'kgitops-diff-'));
  // The sandbox's user (uid 65534 when kgitops runs as root) reads the worktree.
  chmodSync(dir, 0o755);
  await git(repo.root, ['worktree', 'add', '--detach', '--force', dir, sha]);
  const side: Side = {
    label: ref, sha, appDir: join(dir, repo.path),
    async dispose() {
      await git(repo.root, ['worktree', 'remove', '--force', dir]).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    if (!existsSync(side.appDir)) throw new UsageError(`${repo.path || '.'} does not exist at ${ref} (${sha.slice(0, 12)})`);
    if (!linkWorkingTreeModules(repo, dir)) await prepareDependencies(side.appDir, dir, { cacheDir, onProgress });
    return side;
  } catch (e) {
    await side.dispose();
    throw e;
  }
}

/**
 * Links the working tree's node_modules into the worktree when the nearest package.json above
 * the app has the same lockfile on both sides. Returns whether it did.
 */
function linkWorkingTreeModules(repo: Repo, worktree: string): boolean {
  for (let rel = repo.path; ; rel = dirname(rel)) {
    const here = rel === '.' ? '' : rel;
    const pkg = join(worktree, here, 'package.json');
    if (existsSync(pkg)) {
      const modules = join(repo.root, here, 'node_modules');
      const lock = LOCKFILES.find((f) => existsSync(join(worktree, here, f)));
      if (!lock || !existsSync(modules) || !existsSync(join(repo.root, here, lock))) return false;
      if (!readFileSync(join(worktree, here, lock)).equals(readFileSync(join(repo.root, here, lock)))) return false;
      const at = join(worktree, here, 'node_modules');
      try { if (lstatSync(at)) return true; } catch { /* absent */ }
      symlinkSync(modules, at, 'dir');
      return true;
    }
    if (here === '') return false;
  }
}

/**
 * Keeps every file the engine reads or runs for a repo inside that repo's checkout. A commit
 * controls its symlinks: `main.ts -> /etc/shadow`, `cdk8s.yaml -> ~/.kube/config` or an app
 * path of `../..` would otherwise make the engine read (and quote in an error) or run files
 * that are not the repo's. Nothing here ever reads a file outside the checkout, not even to say
 * what is wrong with it: messages name the link and where it points, never the target's content.
 */
import { existsSync, lstatSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

export class RepoPathError extends Error {
  constructor(message: string, public readonly hint: string, public readonly file?: string) {
    super(message);
    this.name = 'RepoPathError';
  }
}

function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : `${root}${sep}`);
}

/** The directory holding `.git` at or above `dir`, or undefined outside a git work tree. */
export function findRepoRoot(dir: string): string | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return d;
    if (dirname(d) === d) return undefined;
  }
}

/** Where a symlink leads, resolved as far as it exists; lexically beyond that. */
function destination(link: string): string {
  try {
    return realpathSync(link);
  } catch {
    // Dangling: follow the chain by hand, at most a few hops, without reading any target.
    let at = link;
    for (let i = 0; i < 40; i++) {
      let target: string;
      try { target = readlinkSync(at); } catch { return at; }
      at = isAbsolute(target) ? target : resolve(dirname(at), target);
      try { if (!lstatSync(at).isSymbolicLink()) return at; } catch { return at; }
    }
    return at;
  }
}

/**
 * `rel` (a path in the repo, e.g. `deploy` or `deploy/cdk8s.yaml`), checked: it may not leave
 * the checkout lexically, and nothing on the way (a symlinked directory or the file itself)
 * may lead out of it. Returns the absolute path; the file need not exist.
 */
export function confinedPath(root: string, rel: string, what = 'path'): string {
  const realRoot = realpathSync(root);
  const abs = resolve(root, rel);
  if (!inside(resolve(root), abs)) {
    throw new RepoPathError(`the ${what} "${rel}" leaves the repository`, 'use a path inside the repository, e.g. `deploy` or `.`');
  }
  // Check every existing component: a symlink anywhere on the way may lead out.
  const parts = relative(resolve(root), abs).split(sep).filter(Boolean);
  let at = resolve(root);
  for (const part of parts) {
    at = join(at, part);
    let st;
    try { st = lstatSync(at); } catch { break; }
    if (!st.isSymbolicLink()) continue;
    const to = destination(at);
    if (!inside(realRoot, to)) {
      const shown = relative(resolve(root), at) || '.';
      throw new RepoPathError(`${shown} is a symlink to ${readlinkSync(at)}, which is outside the repository; kgitops never reads or runs files outside the checkout`,
        'replace the symlink with the file itself, or point it at a file inside the repository', shown);
    }
  }
  return abs;
}

export interface OutsideLink {
  /** The link, relative to the repository root. */
  readonly path: string;
  /** What it says (readlink), not what it leads to. */
  readonly target: string;
}

/**
 * Symlinks under `dir` (inside the checkout at `root`) that lead outside the checkout. Skips
 * node_modules (made by the engine, outside the repo's control) and .git.
 */
export function outsideSymlinks(root: string, dir: string, skip: readonly string[] = ['node_modules', '.git']): OutsideLink[] {
  const realRoot = realpathSync(root);
  const found: OutsideLink[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 64 || found.length >= 20) return;
    let entries;
    try { entries = readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      if (skip.includes(e.name)) continue;
      const p = join(d, e.name);
      if (e.isSymbolicLink()) {
        if (!inside(realRoot, destination(p))) found.push({ path: relative(root, p), target: readlinkSync(p) });
      } else if (e.isDirectory()) {
        walk(p, depth + 1);
      }
    }
  };
  walk(dir, 0);
  return found;
}

/** Throws when the app directory holds a symlink that leads out of the checkout. */
export function assertNoOutsideSymlinks(root: string, dir: string, skip?: readonly string[]): void {
  const links = outsideSymlinks(root, dir, skip);
  if (!links.length) return;
  const list = links.map((l) => `${l.path} -> ${l.target}`).join(', ');
  throw new RepoPathError(`the app has ${links.length === 1 ? 'a symlink' : `${links.length} symlinks`} leading outside the repository: ${list}; kgitops never runs files outside the checkout`,
    'replace each symlink with the file itself, or point it inside the repository', links[0].path);
}

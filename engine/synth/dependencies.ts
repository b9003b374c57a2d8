/**
 * Dependencies of a repo's cdk8s app, per checked-out commit:
 *  - a repo with a lockfile gets `npm ci --ignore-scripts` (no install scripts from the repo run)
 *    into a node_modules cached by the lockfile's hash, so a commit that does not touch the
 *    lockfile installs nothing;
 *  - a repo without one runs against the engine's own packages (kruise-gitops, cdk8s,
 *    cdk8s-plus-33, constructs, tsx) through a node_modules of symlinks, so one module instance
 *    of cdk8s serves both the DSL and the app.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { appEnvironment } from './run-app.js';
import { DEPENDENCIES_DIR, ENGINE_ROOT, engineFingerprint } from './runtime.js';


export interface DependencyOptions {
  /** Where cached node_modules directories live. */
  readonly cacheDir: string;
  /** @default 10 minutes */
  readonly installTimeoutMs?: number;
  readonly onProgress?: (message: string) => void;
}

export class DependencyError extends Error {
  constructor(message: string, public readonly hint?: string) {
    super(message);
    this.name = 'DependencyError';
  }
}

export const LOCKFILES = ['package-lock.json', 'npm-shrinkwrap.json'];

/** Finds the nearest directory (from appDir up to repoRoot) with a package.json. */
function packageRoot(appDir: string, repoRoot: string): string | undefined {
  for (let d = appDir; d.startsWith(repoRoot); d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d;
    if (d === repoRoot) break;
  }
  return undefined;
}

/** Makes `node_modules` available to the app in `appDir` (inside the checkout at `repoRoot`). */
export async function prepareDependencies(appDir: string, repoRoot: string, o: DependencyOptions): Promise<'lockfile' | 'engine'> {
  const root = packageRoot(appDir, repoRoot);
  const lock = root && LOCKFILES.map((f) => join(root, f)).find(existsSync);
  if (root && lock) {
    const hash = createHash('sha256').update(readFileSync(lock)).update(readFileSync(join(root, 'package.json'))).digest('hex').slice(0, 24);
    const cached = join(o.cacheDir, 'node_modules', hash);
    if (!existsSync(join(cached, 'node_modules'))) await install(root, cached, o);
    link(join(root, 'node_modules'), join(cached, 'node_modules'));
    return 'lockfile';
  }
  link(join(root ?? appDir, 'node_modules'), engineRuntime(o.cacheDir));
  return 'engine';
}

async function install(pkgRoot: string, cached: string, o: DependencyOptions): Promise<void> {
  o.onProgress?.('installing the repo\'s dependencies (npm ci --ignore-scripts; the lockfile changed) ...');
  const tmp = `${cached}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const f of ['package.json', ...LOCKFILES]) if (existsSync(join(pkgRoot, f))) copyFileSync(join(pkgRoot, f), join(tmp, f));
  await new Promise<void>((resolve, reject) => {
    execFile('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: tmp, env: appEnvironment(), timeout: o.installTimeoutMs ?? 600_000, maxBuffer: 16 * 1024 * 1024,
    }, (err, _stdout, stderr) => {
      if (err) reject(new DependencyError(`npm ci failed: ${npmErrorReason(stderr) || err.message}`,
        'check package.json and the lockfile of the repo (npm ci needs them in sync; file: and link: dependencies on paths outside the repo cannot be installed); install scripts are not run'));
      else resolve();
    });
  });
  // Rename into place last, so that a half-finished install is never mistaken for a cached one.
  renameSync(tmp, cached);
}

/**
 * npm's reason from its stderr, without the command's usage text that npm appends to usage
 * errors (EUSAGE, such as a lockfile out of sync), its log-file line and long lists of the
 * same complaint.
 */
export function npmErrorReason(stderr: string): string {
  const lines: string[] = [];
  for (const raw of stderr.split('\n')) {
    const line = raw.replace(/^npm (?:error|ERR!)\s?/, '').trim();
    if (/^(?:Clean install a project|Usage:)$/.test(line)) break;
    if (!line || /^code \w+$/.test(line) || /^A complete log of this run/.test(line) || /^npm warn/.test(raw)) continue;
    lines.push(line);
  }
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const kind = /^(\w+:)/.exec(lines[i])?.[1];
    let n = i;
    while (kind && n + 1 < lines.length && lines[n + 1].startsWith(kind)) n++;
    if (n - i >= 3) {
      out.push(lines[i], lines[i + 1], `... and ${n - i - 1} more "${kind}" lines`);
      i = n;
    } else out.push(lines[i]);
  }
  return out.slice(0, 12).join(' | ');
}

function linksTo(at: string, target: string): boolean {
  try { return readlinkSync(at) === target; } catch { return false; }
}

function link(at: string, target: string): void {
  try {
    const st = lstatSync(at);
    if (st.isSymbolicLink()) rmSync(at);
    else return; // a real node_modules in the checkout: leave it
  } catch { /* absent */ }
  symlinkSync(target, at, 'dir');
}

/**
 * A node_modules of symlinks to the engine's packages, plus `kruise-gitops` itself. Built once
 * per cache directory and engine install: the links point into ENGINE_ROOT, so two checkouts of
 * the engine sharing one cache (a CI clone beside a developer's tree) need one each, or the
 * sandbox, which binds only its own engine, would see links to nowhere.
 */
export function engineRuntime(cacheDir: string): string {
  const key = engineFingerprint().slice(0, 16);
  const dir = join(cacheDir, 'runtime', key, 'node_modules');
  if (linksTo(join(dir, 'kruise-gitops'), ENGINE_ROOT)) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const entry of readdirSync(DEPENDENCIES_DIR)) {
    if (entry === 'kruise-gitops' || entry.startsWith('.')) continue;
    symlinkSync(join(DEPENDENCIES_DIR, entry), join(tmp, entry), 'dir');
  }
  symlinkSync(ENGINE_ROOT, join(tmp, 'kruise-gitops'), 'dir');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  renameSync(tmp, dir);
  return dir;
}

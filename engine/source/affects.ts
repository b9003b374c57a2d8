/**
 * Whether a commit can change what an app renders: the question that lets one push to a
 * monorepo re-render only the apps it touched (the top scale complaint of Argo CD and Flux users).
 *
 * An app depends on everything under its own path, on the package manifests, lockfiles and
 * tsconfig of its directory and of every directory above it up to the repo root, and on the
 * files outside its path that its code imports or names. Those are found by reading the
 * app's code (never running it): relative import, export-from, dynamic import and require
 * specifiers, and any string literal that is a relative path (`../shared/zones.json` passed to
 * readFileSync), followed from file to file. A path computed at run time is not seen: keep such
 * files under the app's path. A directory named that way counts with everything in it.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';

/** Files at every level from the app up to the root whose change re-renders the app. */
const MANIFESTS = ['package.json', 'package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml', 'tsconfig.json', '.npmrc'];
const CODE = /\.(m|c)?(t|j)sx?$/;
const EXTENSIONS = ['', '.ts', '.tsx', '.mts', '.cts', '.js', '.mjs', '.cjs', '.json', '/index.ts', '/index.js'];
/** Quoted strings that start like a relative path. */
const RELATIVE_LITERAL = /(["'`])(\.\.?\/[^"'`\n\r$]*)\1/g;
const MAX_FILES = 5_000;

const toPosix = (p: string) => p.split(sep).join('/');

/**
 * The repo-relative files and directories outside `appPath` that the app's code reaches, and the
 * manifests above it (see the module comment). `root` is a checkout of the commit.
 */
export function dependencyFiles(root: string, appPath: string): string[] {
  const rootAbs = resolve(root);
  const appAbs = resolve(rootAbs, appPath);
  const inside = (abs: string) => abs === rootAbs || abs.startsWith(rootAbs + sep);
  const underApp = (abs: string) => abs === appAbs || abs.startsWith(appAbs + sep);
  const deps = new Set<string>();
  for (let d = appAbs; inside(d); d = dirname(d)) {
    if (d !== appAbs) for (const m of MANIFESTS) deps.add(toPosix(relative(rootAbs, join(d, m))));
    if (d === rootAbs) break;
  }
  const seen = new Set<string>();
  const queue: string[] = codeFiles(appAbs);
  while (queue.length && seen.size < MAX_FILES) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(RELATIVE_LITERAL)) {
      const target = resolve(dirname(file), m[2]!);
      if (!inside(target) || target.split(sep).includes('node_modules')) continue;
      // TypeScript imports name the emitted file: './names.js' is names.ts.
      const tsTwin = /\.(m|c)?js$/.test(target) ? [target.replace(/\.(m|c)?js$/, (_m, p: string | undefined) => `.${p ?? ''}ts`)] : [];
      for (const candidate of [...EXTENSIONS.map((ext) => target + ext), ...tsTwin]) {
        const kind = kindOf(candidate);
        if (!kind) continue;
        if (!underApp(candidate)) deps.add(toPosix(relative(rootAbs, candidate)) + (kind === 'dir' ? '/' : ''));
        if (kind === 'file' && CODE.test(candidate)) queue.push(candidate);
        break;
      }
    }
  }
  return [...deps].sort();
}

function kindOf(p: string): 'file' | 'dir' | undefined {
  try {
    const st = lstatSync(p);
    return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : undefined;
  } catch {
    return undefined;
  }
}

function codeFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && CODE.test(e.name)) out.push(p);
      if (out.length > MAX_FILES) return;
    }
  };
  walk(dir);
  return out;
}

/**
 * Whether the changed paths of a commit can change the app's render. `dependencies` undefined
 * (not known, e.g. after a restart): affected.
 */
export function commitAffects(o: { appPath: string; dependencies: readonly string[] | undefined; changed: readonly string[] }): { affected: boolean; because?: string } {
  if (!o.dependencies) return { affected: true, because: 'what the app depends on is not known yet' };
  const app = posix.normalize(o.appPath).replace(/\/$/, '');
  const deps = new Set(o.dependencies.filter((d) => !d.endsWith('/')));
  const dirs = o.dependencies.filter((d) => d.endsWith('/'));
  for (const c of o.changed) {
    if (app === '.' || c === app || c.startsWith(`${app}/`)) return { affected: true, because: `${c} is under the app's path` };
    if (deps.has(c)) return { affected: true, because: `the app depends on ${c}` };
    const dir = dirs.find((d) => c.startsWith(d));
    if (dir) return { affected: true, because: `the app reads ${dir}` };
  }
  return { affected: false };
}

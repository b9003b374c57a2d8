/**
 * What repo code runs on, wherever it runs: the engine's own packages (its DSL, the code of its
 * child processes, its dependencies) and tsx, which compiles a repo's TypeScript. The engine runs
 * either from its source tree (a checkout: tsx runs the .ts files) or installed from its package
 * (compiled JavaScript under dist/, its dependencies wherever npm put them).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FROM_SOURCE, PACKAGE_ROOT } from '../../dsl/package-root.js';
import type { Bind } from '../sandbox/index.js';

export { FROM_SOURCE, MODULE_EXT } from '../../dsl/package-root.js';

/** The kruise-gitops package directory (a checkout, or node_modules/kruise-gitops). */
export const ENGINE_ROOT = PACKAGE_ROOT;

const requireFromEngine = createRequire(join(ENGINE_ROOT, 'package.json'));

// tsx's full loader (ESM and CommonJS hooks): a repo's main.ts without "type": "module" is CommonJS.
/** tsx's loader, for `node --import`: child processes that run a repo's TypeScript. */
export const TSX_LOADER = pathToFileURL(requireFromEngine.resolve('tsx')).href;

/**
 * The package.json condition that maps `kruise-gitops` to its .ts sources. Requested only when
 * the engine itself runs from source; the published package resolves to dist/ without it.
 */
export const SOURCE_CONDITIONS: string[] = FROM_SOURCE ? ['kruise-gitops-source'] : [];

/** Node flags of every child process that runs a repo's code or the engine's own TypeScript. */
export const CHILD_NODE_FLAGS: string[] = ['--import', TSX_LOADER, ...SOURCE_CONDITIONS.map((c) => `--conditions=${c}`)];

/**
 * The node_modules directory holding the engine's dependencies: the checkout's own, or the one
 * npm installed kruise-gitops and its dependencies into (the user's project).
 */
export const DEPENDENCIES_DIR = dirname(dirname(realpathSync(requireFromEngine.resolve('cdk8s/package.json'))));

/** Identifies this engine install: its path and exact dependencies (the lockfile, or the package version). */
export function engineFingerprint(): string {
  // Once per process: the sandboxes of a long-running engine bind the runtime directory named by
  // it when they start, and a node_modules changed under the process (an npm install beside a
  // running controller) must not send new checkouts' links to a directory they do not bind
  // ("Cannot find module 'cdk8s'" in every synth until a restart).
  if (fingerprint) return fingerprint;
  const lock = join(ENGINE_ROOT, 'package-lock.json');
  fingerprint = createHash('sha256').update(ENGINE_ROOT).update('\0')
    .update(existsSync(lock) ? readFileSync(lock) : readFileSync(join(ENGINE_ROOT, 'package.json')))
    .update('\0').update(DEPENDENCIES_DIR).digest('hex');
  return fingerprint;
}
let fingerprint: string | undefined;

/** The entry file of a `npx tsx main.ts` / `tsx main.ts` command, or undefined. */
export function tsxEntry(command: string): string | undefined {
  const m = /^\s*(?:npx\s+(?:--yes\s+)?)?tsx\s+([^\s;&|<>]+\.[cm]?[jt]sx?)\s*$/.exec(command);
  return m?.[1];
}

/** Read-only binds of what of the engine a sandboxed process runs on. */
export function engineBinds(): Bind[] {
  const own = ['package.json', 'dsl', 'engine', 'schemas', 'dist', 'node_modules'].map((p) => join(ENGINE_ROOT, p)).filter((p) => existsSync(p));
  const binds = own.map((source) => ({ source }));
  if (!own.some((p) => DEPENDENCIES_DIR === p || DEPENDENCIES_DIR.startsWith(`${p}/`))) binds.push({ source: DEPENDENCIES_DIR });
  return binds;
}

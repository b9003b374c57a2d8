/**
 * What repo code runs on, wherever it runs: the engine's own packages (its DSL, the code of its
 * child processes, its node_modules) and tsx, which compiles a repo's TypeScript.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Bind } from '../sandbox/index.js';

export const ENGINE_ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

// tsx's full loader (ESM and CommonJS hooks): a repo's main.ts without "type": "module" is CommonJS.
/** tsx's loader, for `node --import`: child processes that run a repo's TypeScript. */
export const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** The entry file of a `npx tsx main.ts` / `tsx main.ts` command, or undefined. */
export function tsxEntry(command: string): string | undefined {
  const m = /^\s*(?:npx\s+(?:--yes\s+)?)?tsx\s+([^\s;&|<>]+\.[cm]?[jt]sx?)\s*$/.exec(command);
  return m?.[1];
}

/** Read-only binds of what of the engine a sandboxed process runs on. */
export function engineBinds(): Bind[] {
  return ['package.json', 'dsl', 'engine', 'schemas', 'node_modules'].map((p) => ({ source: join(ENGINE_ROOT, p) }));
}

/**
 * Export conditions the engine resolves `kruise-gitops` with: from its source tree, the .ts
 * sources (condition "kruise-gitops-source" of the exports map); installed, the compiled files.
 * The type check of an app (typecheck.ts) puts these in its generated tsconfig.
 */
export const SOURCE_CONDITIONS: string[] = existsSync(join(ENGINE_ROOT, 'dsl', 'index.ts')) ? ['kruise-gitops-source'] : [];

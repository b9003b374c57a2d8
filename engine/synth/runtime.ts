/**
 * What repo code runs on, wherever it runs: the engine's own packages (its DSL, the code of its
 * child processes, its node_modules) and tsx, which compiles a repo's TypeScript.
 */
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

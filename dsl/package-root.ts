/**
 * Where the kruise-gitops package is, and whether it runs from its TypeScript sources (a checkout
 * of this repository) or compiled (the published package, under dist/). Files the package reads
 * or starts at run time (schemas, child processes) are found from here, so that both layouts work.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** True in a checkout (tsx runs the .ts sources); false in the installed package. */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');

/** The extension of the package's own modules as they run: `.ts` from source, `.js` compiled. */
export const MODULE_EXT = FROM_SOURCE ? '.ts' : '.js';

/** The directory holding kruise-gitops's package.json. */
export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

function findPackageRoot(from: string): string {
  for (let d = from; ; d = dirname(d)) {
    const manifest = join(d, 'package.json');
    if (existsSync(manifest)) {
      try {
        if (JSON.parse(readFileSync(manifest, 'utf8')).name === 'kruise-gitops') return d;
      } catch { /* not ours: keep looking */ }
    }
    if (dirname(d) === d) throw new Error(`kruise-gitops: no package.json of kruise-gitops above ${from}`);
  }
}

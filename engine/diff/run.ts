/**
 * `kgitops diff` between two versions of a repo: both sides synthesize at once (each in its own
 * child process), the head's policies load meanwhile and then judge the head against the base.
 */
import { basename, join, relative, resolve } from 'node:path';
import type { RenderedObject } from '../../dsl/app.js';
import type { Diagnostic } from '../../dsl/diagnostics.js';
import { startPolicies } from '../policy/host.js';
import { synthesize } from '../synth/index.js';
import { defaultCacheDir } from '../synth/transform-cache.js';
import { countChanges, type DiffResult, diffObjects } from './index.js';
import { checkoutRef, findRepo, type Repo, type Side, workingTree } from './refs.js';

export interface DiffRefsOptions {
  /** Directory of the app (with cdk8s.yaml), inside a git repo. @default '.' */
  readonly dir?: string;
  /** @default 'HEAD' */
  readonly base?: string;
  /** A ref; @default the working tree as it is (uncommitted changes included) */
  readonly head?: string;
  readonly cacheDir?: string;
  readonly timeoutMs?: number;
  readonly policies?: boolean;
  /** Type-check the head before it runs (the base is what it was). @default true */
  readonly typecheck?: boolean;
  readonly onProgress?: (message: string) => void;
}

export { defaultCacheDir };

/** Source locations inside a temporary worktree, shown as the same file in the user's repo. */
function repoPaths<T extends { source?: string }>(items: readonly T[], repo: Repo, s: Side): T[] {
  const sideRoot = s.appDir.slice(0, s.appDir.length - repo.path.length).replace(/\/$/, '');
  if (sideRoot === repo.root) return [...items];
  return items.map((x) => {
    if (!x.source) return x;
    const abs = resolve(x.source);
    if (!abs.startsWith(`${sideRoot}/`)) return x;
    return { ...x, source: relative(process.cwd(), join(repo.root, relative(sideRoot, abs))) };
  });
}

export async function diffRefs(options: DiffRefsOptions = {}): Promise<DiffResult> {
  const t0 = performance.now();
  const progress = options.onProgress ?? (() => {});
  const repo = await findRepo(options.dir ?? '.');
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const baseRef = options.base ?? 'HEAD';
  progress(`checking out ${baseRef}${options.head ? ` and ${options.head}` : ''} ...`);
  const sides = await Promise.allSettled([
    checkoutRef(repo, baseRef, cacheDir, progress),
    options.head ? checkoutRef(repo, options.head, cacheDir, progress) : Promise.resolve(workingTree(repo)),
  ]);
  const [base, head] = sides.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
  try {
    const failed = sides.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const tCheckout = performance.now();
    const policies = options.policies === false ? undefined : startPolicies(head!.appDir);
    try {
      progress(`synthesizing ${base!.label} and ${head!.label} ...`);
      // Only the head is type-checked: it is what would be applied; the base only shows what changes.
      const synth = (s: Side) => synthesize(s.appDir, {
        policies: false, cacheDir, typecheck: s === head && options.typecheck !== false, ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
      });
      const [b, h] = await Promise.all([synth(base!), synth(head!)]);
      const tSynth = performance.now();
      const baseObjects: RenderedObject[] = repoPaths(b.objects, repo, base!);
      const headObjects: RenderedObject[] = repoPaths(h.objects, repo, head!);
      const checked = policies && h.objects.length ? await policies.check(headObjects, baseObjects) : undefined;
      const tPolicies = performance.now();
      const headDiagnostics: Diagnostic[] = [...repoPaths(h.diagnostics, repo, head!), ...(checked?.diagnostics ?? [])];
      const { objects, unchanged } = diffObjects(baseObjects, headObjects);
      return {
        app: repo.path || basename(repo.root),
        base: { label: base!.label, ...(base!.sha ? { sha: base!.sha } : {}), objects: b.objects.length, diagnostics: repoPaths(b.diagnostics, repo, base!) },
        head: { label: head!.label, ...(head!.sha ? { sha: head!.sha } : {}), objects: h.objects.length, diagnostics: headDiagnostics },
        objects, unchanged, counts: countChanges(objects), policies: checked?.policies ?? [],
        timings: {
          checkoutMs: Math.round(tCheckout - t0), synthMs: Math.round(tSynth - tCheckout),
          // Policies load while both sides synthesize; this is only the wait after that.
          policyMs: Math.round(tPolicies - tSynth), totalMs: Math.round(performance.now() - t0),
        },
      };
    } finally {
      policies?.close();
    }
  } finally {
    await Promise.all([base?.dispose(), head?.dispose()]);
  }
}

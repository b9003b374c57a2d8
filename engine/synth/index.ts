/**
 * synth: run a repo's cdk8s app in the sandbox, validate everything it produced, and (when
 * asked) write deterministic manifests. Nothing is written when anything is invalid.
 */
import { join, resolve } from 'node:path';
import type { RenderedObject } from '../../dsl/app.js';
import { type Diagnostic, hasErrors } from '../../dsl/diagnostics.js';
import { startPolicies } from '../policy/host.js';
import { prepareValidation, validateObjects } from '../validate/index.js';
import { Sandbox } from '../sandbox/index.js';
import { RepoPathError } from '../source/confine.js';
import { checkoutRoot, readCdk8sConfig, runApp, type RunAppOptions } from './run-app.js';
import { defaultCacheDir } from './transform-cache.js';
import { typecheckApp } from './typecheck.js';

export { appEnvironment, checkoutRoot, locateError, readCdk8sConfig, runApp, UsageError } from './run-app.js';

export interface SynthResult {
  readonly dir: string;
  readonly objects: RenderedObject[];
  readonly diagnostics: Diagnostic[];
  readonly ok: boolean;
  /** Files written (empty unless `write` and ok). */
  readonly files: string[];
  /** typecheckMs: the type check before the app ran (a cache lookup when answered from the cache). */
  readonly timings: { readonly appMs: number; readonly validateMs: number; readonly policyMs: number; readonly typecheckMs: number };
  /** How the app's types were checked: by the compiler, from the cache (the same files passed before), or not at all. */
  readonly typecheck: 'checked' | 'cached' | 'skipped';
  /** Names of the policies that ran. */
  readonly policies: string[];
}

export interface SynthOptions extends RunAppOptions {
  /** Write `<output>/<chart>.k8s.yaml` when everything is valid. @default false */
  readonly write?: boolean;
  /** Run the policies: the built-in pack and the repo's `policies/*.ts`. @default true */
  readonly policies?: boolean;
  /** The previous version's objects, for policies that compare versions (the diff base, the applied commit). */
  readonly previous?: readonly RenderedObject[];
  /**
   * Type-check the app (and its policy files) before running it; a type error fails the synth
   * and the app does not run. @default true
   */
  readonly typecheck?: boolean;
  /** Where type-check results are cached. @default the engine's cache directory */
  readonly cacheDir?: string;
}

export async function synthesize(dir: string, options: SynthOptions = {}): Promise<SynthResult> {
  const appDir = resolve(dir);
  const root = options.root ? resolve(options.root) : checkoutRoot(appDir);
  let output: string;
  let command: string | undefined;
  try {
    ({ output, app: command } = readCdk8sConfig(appDir, root));
  } catch (e) {
    if (!(e instanceof RepoPathError)) throw e;
    // The app is refused before anything of it runs; runApp says why, with the file.
    output = 'dist';
  }
  // Repo code runs only where a sandbox can be made: find out (once) before starting anything.
  const sandbox = options.sandbox ?? (await Sandbox.default());
  // The repo's policies load in their own sandboxed process while the app runs.
  const policies = options.policies === false ? undefined : startPolicies(appDir, { sandbox, root, ...(options.limits ? { limits: options.limits } : {}), ...(options.warm ? { warm: options.warm } : {}) });
  try {
    // Types first: an app that does not compile does not run, and nothing of it is written or applied.
    const typed = options.typecheck === false || command === undefined ? undefined : await typecheckApp(appDir, {
      sandbox, root, command, output, policies: options.policies !== false, cacheDir: options.cacheDir ?? defaultCacheDir(),
      limits: { ...options.limits, ...(options.timeoutMs ? { wallMs: options.timeoutMs } : {}) },
    });
    const typecheck = !typed || typed.skipped ? 'skipped' : typed.cached ? 'cached' : 'checked';
    const typecheckMs = typed?.durationMs ?? 0;
    if (typed && !typed.ok) {
      return {
        dir: appDir, objects: [], diagnostics: typed.diagnostics, ok: false, files: [], policies: [], typecheck,
        timings: { appMs: 0, validateMs: 0, policyMs: 0, typecheckMs },
      };
    }
    const running = runApp(appDir, { ...options, sandbox, root });
    // The engine waits for the app: compile the schema validators meanwhile.
    const prepared = prepareValidation(running);
    const run = await running;
    await prepared;
    const t0 = performance.now();
    const diagnostics = [...(typed?.diagnostics ?? []), ...run.diagnostics, ...validateObjects(run.objects)];
    const validateMs = Math.round(performance.now() - t0);
    // Policies judge what was rendered; with nothing rendered (the app failed) they have nothing to say.
    const checked = policies && run.objects.length ? await policies.check(run.objects, options.previous) : undefined;
    if (checked) diagnostics.push(...checked.diagnostics);
    const ok = !hasErrors(diagnostics);
    // Loaded only to write: dsl/app.ts brings the constructs and cdk8s-plus, which --no-write and the engine's checks never use.
    const files = ok && options.write ? (await import('../../dsl/app.js')).writeManifests(join(appDir, output), run.objects) : [];
    return {
      dir: appDir, objects: run.objects, diagnostics, ok, files, policies: checked?.policies ?? [], typecheck,
      timings: { appMs: run.durationMs, validateMs, policyMs: checked?.durationMs ?? 0, typecheckMs },
    };
  } finally {
    policies?.close();
  }
}

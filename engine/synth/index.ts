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

export { appEnvironment, checkoutRoot, locateError, readCdk8sConfig, runApp, UsageError } from './run-app.js';

export interface SynthResult {
  readonly dir: string;
  readonly objects: RenderedObject[];
  readonly diagnostics: Diagnostic[];
  readonly ok: boolean;
  /** Files written (empty unless `write` and ok). */
  readonly files: string[];
  readonly timings: { readonly appMs: number; readonly validateMs: number; readonly policyMs: number };
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
}

export async function synthesize(dir: string, options: SynthOptions = {}): Promise<SynthResult> {
  const appDir = resolve(dir);
  const root = options.root ? resolve(options.root) : checkoutRoot(appDir);
  let output: string;
  try {
    output = readCdk8sConfig(appDir, root).output;
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
    const running = runApp(appDir, { ...options, sandbox, root });
    // The engine waits for the app: compile the schema validators meanwhile.
    const prepared = prepareValidation(running);
    const run = await running;
    await prepared;
    const t0 = performance.now();
    const diagnostics = [...run.diagnostics, ...validateObjects(run.objects)];
    const validateMs = Math.round(performance.now() - t0);
    // Policies judge what was rendered; with nothing rendered (the app failed) they have nothing to say.
    const checked = policies && run.objects.length ? await policies.check(run.objects, options.previous) : undefined;
    if (checked) diagnostics.push(...checked.diagnostics);
    const ok = !hasErrors(diagnostics);
    // Loaded only to write: dsl/app.ts brings the constructs and cdk8s-plus, which --no-write and the engine's checks never use.
    const files = ok && options.write ? (await import('../../dsl/app.js')).writeManifests(join(appDir, output), run.objects) : [];
    return {
      dir: appDir, objects: run.objects, diagnostics, ok, files, policies: checked?.policies ?? [],
      timings: { appMs: run.durationMs, validateMs, policyMs: checked?.durationMs ?? 0 },
    };
  } finally {
    policies?.close();
  }
}

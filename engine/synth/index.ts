/**
 * synth: run a repo's cdk8s app in isolation, validate everything it produced, and (when
 * asked) write deterministic manifests. Nothing is written when anything is invalid.
 */
import { join, resolve } from 'node:path';
import type { RenderedObject } from '../../dsl/app.js';
import { writeManifests } from '../../dsl/app.js';
import { type Diagnostic, hasErrors } from '../../dsl/diagnostics.js';
import { validateObjects } from '../validate/index.js';
import { readCdk8sConfig, runApp, type RunAppOptions } from './run-app.js';

export { appEnvironment, locateError, readCdk8sConfig, runApp, UsageError } from './run-app.js';

export interface SynthResult {
  readonly dir: string;
  readonly objects: RenderedObject[];
  readonly diagnostics: Diagnostic[];
  readonly ok: boolean;
  /** Files written (empty unless `write` and ok). */
  readonly files: string[];
  readonly timings: { readonly appMs: number; readonly validateMs: number };
}

export interface SynthOptions extends RunAppOptions {
  /** Write `<output>/<chart>.k8s.yaml` when everything is valid. @default false */
  readonly write?: boolean;
}

export async function synthesize(dir: string, options: SynthOptions = {}): Promise<SynthResult> {
  const appDir = resolve(dir);
  const config = readCdk8sConfig(appDir);
  const run = await runApp(appDir, options);
  const t0 = performance.now();
  const diagnostics = [...run.diagnostics, ...validateObjects(run.objects)];
  const validateMs = Math.round(performance.now() - t0);
  const ok = !hasErrors(diagnostics);
  const files = ok && options.write ? writeManifests(join(appDir, config.output), run.objects) : [];
  return { dir: appDir, objects: run.objects, diagnostics, ok, files, timings: { appMs: run.durationMs, validateMs } };
}

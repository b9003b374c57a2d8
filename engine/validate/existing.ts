/**
 * `kgitops validate`: existing YAML checked as synth checks rendered objects. The same JSON
 * Schemas (CRDs and Kubernetes definitions), Kruise's webhook rules and duplicate detection are
 * used, and the policies follow: the built-in pack advises, or an app's pack and its
 * policies/*.ts enforce. Each diagnostic carries the file and line (of the field when the YAML
 * has it), the object, the JSON path and a hint.
 */
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { RenderedObject } from '../../dsl/app.js';
import type { Diagnostic, ObjectRef } from '../../dsl/diagnostics.js';
import { checkRules } from '../../dsl/rules.js';
import { advisoryPolicies } from '../policy/builtin.js';
import { evaluatePolicies } from '../policy/run.js';
import type { Sandbox } from '../sandbox/index.js';
import { FROM_SOURCE, MODULE_EXT } from '../../dsl/package-root.js';
import { FieldLines, type FileObject, manifestFiles, readManifestFile } from './files.js';
import { objectRef } from './index.js';
import { SchemaValidator } from './schema.js';

export interface ValidateFilesOptions {
  /** Run the policies of this cdk8s app (its configured pack and policies/*.ts, enforced). Default: the built-in pack, advisory. */
  readonly policiesOf?: string;
  /** Run no policies at all. */
  readonly policies?: boolean;
  /** For policies/*.ts. */
  readonly sandbox?: Sandbox;
  /** Threads that read and check (this one and workers). @default the cores, at most 4; 1 below 64 MiB of YAML */
  readonly threads?: number;
}

export interface ValidateFilesResult {
  readonly ok: boolean;
  readonly files: number;
  readonly objects: number;
  /** Objects per kind (`CloneSet apps.kruise.io/v1alpha1`). */
  readonly kinds: Record<string, number>;
  /** Documents in walked directories that are not Kubernetes objects. */
  readonly skipped: number;
  readonly diagnostics: Diagnostic[];
  /** Policies that ran. */
  readonly policies: string[];
  readonly durationMs: number;
}

/** What reading and checking a share of the files found, before duplicates and policies. */
export interface CheckedFiles {
  readonly diagnostics: Diagnostic[];
  readonly objects: FileObject[];
  readonly kinds: Record<string, number>;
  readonly skipped: number;
}

/** Reads files and checks each object against its schema and Kruise's rules (in this thread). */
export function checkFiles(files: readonly { file: string; walked: boolean }[]): CheckedFiles {
  const validator = SchemaValidator.get();
  const lines = new FieldLines();
  const diagnostics: Diagnostic[] = [];
  const objects: FileObject[] = [];
  const kinds: Record<string, number> = {};
  let skipped = 0;
  for (const f of files) {
    const read = readManifestFile(f);
    diagnostics.push(...read.problems);
    skipped += read.skipped;
    for (const o of read.objects) {
      objects.push(o);
      const m = o.manifest;
      const k = `${m.kind} ${m.apiVersion}`;
      kinds[k] = (kinds[k] ?? 0) + 1;
      const schema = validator.validate(m);
      // Rules read fields by path; on a schema-broken object they would only repeat its errors.
      const rules = schema.some((d) => d.severity === 'error') ? [] : checkRules(m);
      for (const d of [...schema, ...rules]) diagnostics.push({ ...d, object: objectRef(m), source: `${o.file}:${lines.lineOf(o, d.path)}` });
    }
  }
  return { diagnostics, objects, kinds, skipped };
}

/** Below this much YAML, one thread is quicker than starting others (each worker loads the modules and validators again, and the objects come back by structured clone): measured on 2 cores, 7.5 MiB took 1.2 s in one thread and 2.0 s in two. */
const PARALLEL_BYTES = 64 << 20;

/**
 * The files in contiguous shares of about equal size, one per core (at most 4), so that
 * diagnostics keep the files' order; one share when the input is small or read from stdin.
 */
function shares(files: { file: string; walked: boolean }[], threads?: number): { file: string; walked: boolean }[][] {
  const sizes = files.map((f) => { try { return f.file === '-' ? 0 : statSync(f.file).size; } catch { return 0; } });
  const total = sizes.reduce((a, b) => a + b, 0);
  const n = Math.min(threads ?? availableParallelism(), 4, files.length);
  if (n < 2 || (threads === undefined && total < PARALLEL_BYTES) || files.some((f) => f.file === '-')) return [files];
  const out: { file: string; walked: boolean }[][] = [[]];
  let acc = 0;
  files.forEach((f, i) => {
    if (acc >= (total / n) * out.length && out.length < n) out.push([]);
    out.at(-1)!.push(f);
    acc += sizes[i]!;
  });
  return out;
}

/** checkFiles in a worker thread (engine/validate/worker.ts), run from source through tsx in a checkout. */
function checkInWorker(files: readonly { file: string; walked: boolean }[]): Promise<CheckedFiles> {
  const target = new URL(`./worker${MODULE_EXT}`, import.meta.url).href;
  const code = FROM_SOURCE
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then(({ register }) => { register(); return import(${JSON.stringify(target)}); })`
    : `import(${JSON.stringify(target)})`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData: { files } });
    worker.once('message', (m: CheckedFiles) => { resolve(m); void worker.terminate(); });
    worker.once('error', reject);
    worker.once('exit', (code) => { if (code !== 0) reject(new Error(`the validation worker exited with code ${code}`)); });
  });
}

/** Throws PathError for a path that does not exist (nothing is checked then). */
export async function validateFiles(paths: readonly string[], options: ValidateFilesOptions = {}): Promise<ValidateFilesResult> {
  const started = performance.now();
  const files = manifestFiles(paths);
  const parts = shares(files, options.threads);
  // The other shares start in workers first; this thread checks the first share meanwhile.
  const others = parts.slice(1).map(checkInWorker);
  const checked = [checkFiles(parts[0]!), ...(await Promise.all(others))];
  const lines = new FieldLines();
  const diagnostics: Diagnostic[] = checked.flatMap((c) => c.diagnostics);
  const all: FileObject[] = checked.flatMap((c) => c.objects);
  const kinds: Record<string, number> = {};
  for (const c of checked) for (const [k, n] of Object.entries(c.kinds)) kinds[k] = (kinds[k] ?? 0) + n;
  const skipped = checked.reduce((a, c) => a + c.skipped, 0);
  diagnostics.push(...duplicates(all));
  let policies: string[] = [];
  if (options.policies !== false && all.length) {
    const rendered = all.map((o): RenderedObject => ({ manifest: o.manifest, chart: o.file, constructPath: '', source: `${o.file}:${o.line}` }));
    const bySource = new Map<string, number[]>();
    rendered.forEach((r, i) => bySource.set(r.source!, [...(bySource.get(r.source!) ?? []), i]));
    const place = (d: Diagnostic) => placed(d, bySource, all, lines);
    if (options.policiesOf) {
      // Loaded only here: the policy host brings the sandbox and the synth runtime with it.
      const { checkPolicies } = await import('../policy/host.js');
      const r = await checkPolicies(options.policiesOf, rendered, undefined, options.sandbox ? { sandbox: options.sandbox } : {});
      policies = r.policies;
      diagnostics.push(...r.diagnostics.map(place));
    } else {
      const pack = advisoryPolicies();
      policies = pack.map((p) => p.name);
      const targets = rendered.map((r) => ({ manifest: r.manifest as never, constructPath: '', chart: r.chart, source: r.source }));
      diagnostics.push(...evaluatePolicies(pack, targets).map(place));
    }
  }
  return {
    ok: !diagnostics.some((d) => d.severity === 'error'),
    files: files.length, objects: all.length, kinds, skipped, diagnostics, policies,
    durationMs: Math.round(performance.now() - started),
  };
}

/** A policy's diagnostic, at the line of its field in the object's file. */
function placed(d: Diagnostic, bySource: ReadonlyMap<string, number[]>, all: readonly FileObject[], lines: FieldLines): Diagnostic {
  const i = (d.source ? bySource.get(d.source) ?? [] : []).find((j) => sameObject(all[j]!.manifest, d.object));
  const o = i !== undefined ? all[i] : undefined;
  const { constructPath: _c, ...rest } = d;
  return o ? { ...rest, source: `${o.file}:${lines.lineOf(o, d.path)}` } : rest;
}

function sameObject(m: Record<string, any>, ref: ObjectRef | undefined): boolean {
  return !ref || (m.kind === ref.kind && m.metadata?.name === ref.name && (m.metadata?.namespace ?? undefined) === (ref.namespace ?? undefined));
}

/** Two objects with the same group, kind, namespace and name: the second would overwrite the first. */
function duplicates(objects: readonly FileObject[]): Diagnostic[] {
  const seen = new Map<string, FileObject>();
  const out: Diagnostic[] = [];
  for (const o of objects) {
    const m = o.manifest;
    if (typeof m.apiVersion !== 'string' || typeof m.kind !== 'string' || !m.metadata?.name) continue;
    const key = `${m.apiVersion.split('/').slice(0, -1).join('/')}|${m.kind}|${m.metadata?.namespace ?? ''}|${m.metadata.name}`;
    const first = seen.get(key);
    if (first) {
      out.push({
        severity: 'error', rule: 'validate/duplicate-object', object: objectRef(m), source: `${o.file}:${o.line}`,
        message: `the same object is also at ${first.file}:${first.line}`,
        hint: 'applied together, the second would overwrite the first: remove one, or give it another metadata.name',
      });
    } else {
      seen.set(key, o);
    }
  }
  return out;
}

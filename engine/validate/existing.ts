/**
 * `kgitops validate`: existing YAML checked as synth checks rendered objects. The same JSON
 * Schemas (CRDs and Kubernetes definitions), Kruise's webhook rules and duplicate detection are
 * used, and the policies follow: the built-in pack advises, or an app's pack and its
 * policies/*.ts enforce. Each diagnostic carries the file and line (of the field when the YAML
 * has it), the object, the JSON path and a hint.
 */
import type { RenderedObject } from '../../dsl/app.js';
import type { Diagnostic, ObjectRef } from '../../dsl/diagnostics.js';
import { checkRules } from '../../dsl/rules.js';
import { advisoryPolicies } from '../policy/builtin.js';
import { evaluatePolicies } from '../policy/run.js';
import type { Sandbox } from '../sandbox/index.js';
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

/** Throws PathError for a path that does not exist (nothing is checked then). */
export async function validateFiles(paths: readonly string[], options: ValidateFilesOptions = {}): Promise<ValidateFilesResult> {
  const started = performance.now();
  const files = manifestFiles(paths);
  const validator = SchemaValidator.get();
  const lines = new FieldLines();
  const diagnostics: Diagnostic[] = [];
  const all: FileObject[] = [];
  const kinds: Record<string, number> = {};
  let skipped = 0;
  const at = (o: FileObject, path?: string) => `${o.file}:${lines.lineOf(o, path)}`;
  for (const f of files) {
    const read = readManifestFile(f);
    diagnostics.push(...read.problems);
    skipped += read.skipped;
    for (const o of read.objects) {
      all.push(o);
      const m = o.manifest;
      const k = `${m.kind} ${m.apiVersion}`;
      kinds[k] = (kinds[k] ?? 0) + 1;
      const schema = validator.validate(m);
      // Rules read fields by path; on a schema-broken object they would only repeat its errors.
      const rules = schema.some((d) => d.severity === 'error') ? [] : checkRules(m);
      for (const d of [...schema, ...rules]) diagnostics.push({ ...d, object: objectRef(m), source: at(o, d.path) });
    }
  }
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

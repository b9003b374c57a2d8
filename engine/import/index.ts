/**
 * `kgitops import`: Kruise and Kubernetes manifests as TypeScript with kruise-gitops's
 * constructs. Each object is planned (engine/import/kinds.ts), then built and rendered here, in
 * this process, with the very expressions the file will contain; what the construct renders
 * differently from the input becomes `addJsonPatch` calls on it. The file printed therefore
 * synthesizes back to the input, and a construct that cannot get there is written as a plain
 * ApiObject instead.
 */
import { ApiObject, Chart, Duration, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import * as dsl from '../../dsl/index.js';
import { call, evaluate, type Expr, lit, print, type Registry, roots } from './expr.js';
import { type ConstructPlan, type MethodCall, planFor } from './kinds.js';

type Json = any;

export interface ImportInput {
  readonly manifest: Json;
  /** `file:line`, for the comment above the construct. */
  readonly source: string;
}

export interface ImportedObject {
  readonly source: string;
  readonly kind: string;
  readonly name: string;
  /** `CloneSet`, or `ApiObject` for kinds without a construct. */
  readonly construct: string;
  /** Fields written as `addJsonPatch`, because the construct has no prop for them. */
  readonly patches: string[];
  /** Server-set fields and status that were left out. */
  readonly dropped: string[];
}

export interface ImportResult {
  readonly code: string;
  readonly objects: ImportedObject[];
}

export interface ImportOptions {
  /** The class of the chart written. @default 'ImportedChart' */
  readonly className?: string;
  /** The module the constructs are imported from. @default 'kruise-gitops' */
  readonly module?: string;
  /** Files named in the header comment. */
  readonly files?: readonly string[];
}

const REGISTRY: Registry = { ...dsl, ApiObject, Duration, JsonPatch, kplus };

/** Metadata the apiserver sets: never part of what is applied. */
const SERVER_METADATA = ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'selfLink'];
const SERVER_ANNOTATIONS = ['kubectl.kubernetes.io/last-applied-configuration', 'deployment.kubernetes.io/revision'];

function cleanMetadata(m: Json): { metadata: Json; dropped: string[] } {
  const dropped: string[] = [];
  const metadata = { ...(m.metadata ?? {}) };
  for (const f of SERVER_METADATA) if (f in metadata) { delete metadata[f]; dropped.push(`metadata.${f}`); }
  if (metadata.annotations) {
    const annotations = { ...metadata.annotations };
    for (const a of SERVER_ANNOTATIONS) if (a in annotations) { delete annotations[a]; dropped.push(`metadata.annotations["${a}"]`); }
    if (Object.keys(annotations).length) metadata.annotations = annotations;
    else delete metadata.annotations;
  }
  if (m.status !== undefined) dropped.push('status');
  return { metadata, dropped };
}

/**
 * Fields a construct always writes, with the value Kruise's mutating webhook would give the
 * object anyway: not a difference worth a patch. (CloneSet writes replicas: 1 when none is given.)
 */
const WRITTEN_DEFAULTS: readonly { kind: string; path: string; value: unknown }[] = [
  { kind: 'CloneSet', path: '/spec/replicas', value: 1 },
  { kind: 'CloneSet', path: '/spec/updateStrategy', value: { type: 'ReCreate' } },
  { kind: 'StatefulSet', path: '/spec/replicas', value: 1 },
  { kind: 'StatefulSet', path: '/spec/podManagementPolicy', value: 'OrderedReady' },
  { kind: 'StatefulSet', path: '/spec/updateStrategy', value: { type: 'RollingUpdate' } },
  { kind: 'StatefulSet', path: '/spec/updateStrategy/rollingUpdate', value: {} },
  { kind: 'DaemonSet', path: '/spec/updateStrategy', value: { type: 'RollingUpdate', rollingUpdate: { rollingUpdateType: 'Standard' } } },
  { kind: 'DaemonSet', path: '/spec/updateStrategy/rollingUpdate/rollingUpdateType', value: 'Standard' },
  { kind: 'SidecarSet', path: '/spec/updateStrategy', value: { type: 'RollingUpdate' } },
  { kind: 'ImagePullJob', path: '/spec/completionPolicy', value: { type: 'Always' } },
  { kind: 'ImageListPullJob', path: '/spec/completionPolicy', value: { type: 'Always' } },
];

export function writtenDefault(kind: string, path: string, value: unknown): boolean {
  // EphemeralJob writes the pull and message policies Kruise requires, per container.
  if (kind === 'EphemeralJob' && /^\/spec\/template\/ephemeralContainers\/\d+\/(imagePullPolicy|terminationMessagePolicy)$/.test(path)) return true;
  return WRITTEN_DEFAULTS.some((d) => d.kind === kind && d.path === path && equal(d.value, value));
}

export function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((x, i) => equal(x, (b as unknown[])[i]));
  const ka = Object.keys(a).filter((k) => (a as Json)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Json)[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => equal((a as Json)[k], (b as Json)[k]));
}

const pointer = (segments: readonly string[]) => segments.map((s) => `/${s.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** JSON Patch operations that turn `from` (rendered) into `to` (the input). */
export function patchOps(kind: string, from: unknown, to: unknown, at: string[] = []): { op: 'add' | 'replace' | 'remove'; path: string; value?: unknown }[] {
  if (equal(from, to)) return [];
  if (isPlain(from) && isPlain(to)) {
    const ops: ReturnType<typeof patchOps> = [];
    for (const [k, v] of Object.entries(to)) {
      if (v === undefined) continue;
      if (!(k in from) || from[k] === undefined) ops.push({ op: 'add', path: pointer([...at, k]), value: v });
      else ops.push(...patchOps(kind, from[k], v, [...at, k]));
    }
    for (const [k, v] of Object.entries(from)) {
      if (v === undefined || (k in to && to[k] !== undefined)) continue;
      if (!writtenDefault(kind, pointer([...at, k]), v)) ops.push({ op: 'remove', path: pointer([...at, k]) });
    }
    return ops;
  }
  return [{ op: 'replace', path: pointer(at), value: to }];
}

/** Builds one construct from its plan in a chart of its own and renders it. */
function build(plan: ConstructPlan, calls: readonly MethodCall[], id: string): Json {
  const app = new dsl.App({ acceptCdk8sPlusDefaults: true });
  const chart = new Chart(app, 'import');
  const Cls = REGISTRY[plan.cls] as new (scope: unknown, id: string, props: unknown) => Record<string, (...a: unknown[]) => unknown>;
  const c = new Cls(chart, id, evaluate(plan.props, REGISTRY));
  for (const m of calls) c[m.method]!(...m.args.map((a) => evaluate(a, REGISTRY)));
  const rendered = app.render({ rules: false }).objects;
  if (rendered.length !== 1) throw new Error(`import: ${plan.cls} rendered ${rendered.length} objects`);
  return rendered[0]!.manifest;
}

function patchCall(op: { op: string; path: string; value?: unknown }): Expr {
  return op.op === 'remove' ? call('JsonPatch.remove', lit(op.path)) : call(`JsonPatch.${op.op}`, lit(op.path), lit(op.value));
}

interface Planned {
  readonly input: ImportInput;
  readonly plan: ConstructPlan;
  readonly calls: MethodCall[];
  readonly id: string;
  readonly patches: string[];
  readonly dropped: string[];
}

/** The plan, completed with the patches that make it render `target`; an ApiObject if it cannot. */
function complete(input: ImportInput, id: string): Planned {
  const { metadata, dropped } = cleanMetadata(input.manifest);
  const { status: _s, ...withoutStatus } = input.manifest;
  const target = { ...withoutStatus, metadata };
  let plan = planFor(target, metadata);
  let calls = [...plan.calls];
  let patches: string[] = [];
  try {
    const ops = patchOps(target.kind, build(plan, calls, id), target);
    if (ops.length) {
      patches = ops.map((o) => o.path);
      calls.push(...ops.map((o, i) => ({
        method: 'addJsonPatch', args: [patchCall(o)],
        ...(i === 0 ? { comment: `Not covered by ${plan.cls}'s props: as written.` } : {}),
      })));
      const again = patchOps(target.kind, build(plan, calls, id), target);
      if (again.length) throw new Error(`still differs at ${again.map((o) => o.path).join(', ')}`);
    }
  } catch (e) {
    // The construct rejects the object (or a patch cannot reach it): keep it exactly as written.
    const why = (e as Error).message.split('\n')[0];
    const { metadata: _m, ...rest } = target;
    plan = { cls: 'ApiObject', props: lit({ apiVersion: rest.apiVersion, kind: rest.kind, metadata, ...rest }), calls: [], comments: [`Kept as a plain ApiObject, as written: ${plan.cls} could not reproduce it (${why}).`] };
    calls = [];
    patches = [];
  }
  return { input, plan, calls, id, patches, dropped };
}

const IDENTIFIER_WORDS = /[^A-Za-z0-9]+/;

function variableName(id: string, taken: Set<string>): string {
  const words = id.split(IDENTIFIER_WORDS).filter(Boolean);
  let name = words.map((w, i) => (i === 0 ? w.toLowerCase() : w[0]!.toUpperCase() + w.slice(1))).join('') || 'object';
  if (/^\d/.test(name)) name = `o${name}`;
  let n = name;
  for (let i = 2; taken.has(n); i++) n = `${name}${i}`;
  taken.add(n);
  return n;
}

/** Lower-case, dashes: construct ids from object names (unique in the chart). */
function constructId(m: Json, taken: Set<string>): string {
  const base = String(m.metadata?.name ?? m.kind ?? 'object');
  let id = taken.has(base) ? `${base}-${String(m.kind).toLowerCase()}` : base;
  for (let i = 2; taken.has(id); i++) id = `${base}-${i}`;
  taken.add(id);
  return id;
}

/** `// ...` lines of at most about 110 characters. */
function wrapComment(text: string, indent: string): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && indent.length + 3 + line.length + 1 + word.length > 110) {
      out.push(`${indent}// ${line}`);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) out.push(`${indent}// ${line}`);
  return out;
}

function importLine(names: readonly string[], from: string): string {
  const one = `import { ${names.join(', ')} } from '${from}';`;
  return one.length <= 110 ? one : `import {\n${names.map((n) => `  ${n},`).join('\n')}\n} from '${from}';`;
}

const CDK8S_NAMES = new Set(['ApiObject', 'Chart', 'Duration', 'JsonPatch']);

export function importManifests(inputs: readonly ImportInput[], options: ImportOptions = {}): ImportResult {
  const ids = new Set<string>();
  const planned = inputs.map((input) => complete(input, constructId(input.manifest, ids)));
  const used = new Set<string>(['Chart']);
  for (const p of planned) {
    used.add(p.plan.cls.split('.')[0]!);
    roots(p.plan.props, used);
    for (const c of p.calls) c.args.forEach((a) => roots(a, used));
  }
  const fromCdk8s = [...used].filter((n) => CDK8S_NAMES.has(n)).sort();
  const fromDsl = [...used].filter((n) => !CDK8S_NAMES.has(n) && n !== 'kplus').sort();
  const className = options.className ?? 'ImportedChart';
  const lines: string[] = [];
  const files = options.files?.length ? options.files.join(', ') : 'YAML';
  lines.push(...wrapComment(`Written by \`kgitops import\` from ${files}. Synthesizing it gives back the same objects: review it, then replace the YAML with it. Comments mark what was kept as written (the escape hatches).`, ''));
  lines.push(importLine(fromCdk8s.map((n) => (n === 'Chart' ? 'Chart, type ChartProps' : n)), 'cdk8s'));
  if (used.has('kplus')) lines.push("import * as kplus from 'cdk8s-plus-33';");
  lines.push("import type { Construct } from 'constructs';");
  if (fromDsl.length) lines.push(importLine(fromDsl, options.module ?? 'kruise-gitops'));
  lines.push('');
  lines.push(`/** ${planned.length} object${planned.length === 1 ? '' : 's'} imported from ${files}. Add the chart to your app: \`new ${className}(app, 'imported')\`. */`);
  lines.push(`export class ${className} extends Chart {`);
  lines.push('  constructor(scope: Construct, id: string, props: ChartProps = {}) {');
  lines.push('    super(scope, id, props);');
  const vars = new Set<string>();
  for (const p of planned) {
    lines.push('');
    lines.push(`    // ${p.input.source}: ${p.input.manifest.kind} ${p.input.manifest.metadata?.name ?? ''}`.trimEnd());
    for (const c of p.plan.comments) lines.push(...wrapComment(c, '    '));
    if (p.dropped.length) lines.push(...wrapComment(`Left out (set by the cluster): ${p.dropped.join(', ')}.`, '    '));
    const ctor = `new ${p.plan.cls}(this, '${p.id}', ${print(p.plan.props, '    ')})`;
    if (p.calls.length === 0) {
      lines.push(`    ${ctor};`);
      continue;
    }
    const v = variableName(p.id, vars);
    lines.push(`    const ${v} = ${ctor};`);
    for (const c of p.calls) {
      if (c.comment) lines.push(...wrapComment(c.comment, '    '));
      lines.push(`    ${v}.${c.method}(${c.args.map((a) => print(a, '    ')).join(', ')});`);
    }
  }
  lines.push('  }');
  lines.push('}');
  lines.push('');
  return {
    code: lines.join('\n'),
    objects: planned.map((p) => ({
      source: p.input.source, kind: p.input.manifest.kind, name: p.input.manifest.metadata?.name ?? '',
      construct: p.plan.cls, patches: p.patches, dropped: p.dropped,
    })),
  };
}

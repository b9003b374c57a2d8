/**
 * The kruise-gitops App: a cdk8s App whose synth also checks Kruise's webhook rules, reports
 * every problem with its construct path and source line, and writes deterministic YAML.
 *
 * `npx cdk8s synth` and `kgitops synth` run the same program. When kgitops runs it, it sets
 * KGITOPS_SYNTH_OUTPUT to a file path (in the sandbox: `/dev/fd/3`, a pipe to kgitops), and
 * synth writes the rendered objects and diagnostics there as JSON instead of writing YAML;
 * kgitops then validates and writes the manifests.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiObject, App as Cdk8sApp, type AppProps, Chart, DependencyGraph, JsonPatch, Names } from 'cdk8s';
import { type IConstruct, Node } from 'constructs';
import { type Diagnostic, DiagnosticError, formatDiagnostic, hasErrors, joinPath, type ObjectRef } from './diagnostics.js';
import { isNamespaced } from './kinds.js';
import { toYaml } from './output.js';
import { checkRules } from './rules.js';
import { recordedSource, recordSourcesOnCreation } from './source.js';
import { isDeclared } from './workloads/base.js';
import { describePlusDefaults, plusDefaultsOf } from './workloads/plus-defaults.js';

// L1 classes and raw ApiObjects get the line of their `new` (an L2's own L1 has the L2's).
recordSourcesOnCreation(Node, (child, parent) => ApiObject.prototype.isPrototypeOf(child) && !isDeclared(parent));

/** One rendered Kubernetes object and where it came from. */
export interface RenderedObject {
  /** The manifest, resolved to plain JSON. */
  readonly manifest: Record<string, any>;
  /** Output file stem of its chart (`<stem>.k8s.yaml`). */
  readonly chart: string;
  /** Construct path of the construct that declared it (the L2, not its inner `Resource`). */
  readonly constructPath: string;
  /** `file:line:col` of the declaration, when known. */
  readonly source?: string;
  /** Indexes (in the same result) of the objects this one depends on (cdk8s addDependency). */
  readonly dependsOn?: number[];
}

export interface RenderResult {
  readonly objects: RenderedObject[];
  readonly diagnostics: Diagnostic[];
}

/** The JSON document synth writes to KGITOPS_SYNTH_OUTPUT. */
export interface SynthProtocolOutput extends RenderResult {
  readonly protocol: 'kgitops-synth/v1';
  /** Chart stems in output order. */
  readonly charts: string[];
}

export const SYNTH_OUTPUT_ENV = 'KGITOPS_SYNTH_OUTPUT';

export function objectRef(m: Record<string, any>): ObjectRef {
  return { apiVersion: m.apiVersion, kind: m.kind, name: m.metadata?.name, namespace: m.metadata?.namespace };
}

export interface KruiseAppProps extends AppProps {
  /**
   * The defaults cdk8s-plus gives pods and containers where Kubernetes has others (resource
   * limits, runAsNonRoot, a read-only root filesystem, no service-account token, a selector
   * label from the construct path, ...) are intended: do not warn about them.
   * @default false: the first workload that gets one gets a warning listing them
   */
  readonly acceptCdk8sPlusDefaults?: boolean;
}

export class App extends Cdk8sApp {
  private readonly acceptCdk8sPlusDefaults: boolean;

  constructor(props: KruiseAppProps = {}) {
    super(props);
    this.acceptCdk8sPlusDefaults = props.acceptCdk8sPlusDefaults ?? false;
  }

  /**
   * Renders every chart to plain objects, in apply order, and checks construct validations
   * and (unless `rules` is false) Kruise's webhook rules. Pure: writes nothing.
   */
  public render(options: { rules?: boolean } = {}): RenderResult {
    const rules = options.rules ?? true;
    const diagnostics: Diagnostic[] = [];
    const all = this.node.findAll();
    for (const c of all) {
      for (const message of c.node.validate()) {
        diagnostics.push({ severity: 'error', rule: 'construct/validation', message, constructPath: c.node.path, ...sourceOf(c) });
      }
    }
    linkApiObjectDependencies(all);

    const objects: RenderedObject[] = [];
    const indexOf = new Map<ApiObject, number>();
    const dependencies: [number, ApiObject[]][] = [];
    const stems = chartStems(this.charts);
    let defaultsWarning: { index: number; others: number } | undefined;
    for (const chart of this.charts) {
      const stem = stems.get(chart)!;
      const apiObjects = new DependencyGraph(chart.node).topology()
        .filter((x): x is ApiObject => x instanceof ApiObject && Chart.of(x) === chart);
      for (const o of apiObjects) {
        const declaredBy = o.node.id === 'Resource' && o.node.scope ? o.node.scope : o;
        const where = { constructPath: declaredBy.node.path, ...sourceOf(declaredBy, o) };
        const rendered = renderApiObject(o);
        if ('error' in rendered) {
          diagnostics.push({ ...rendered.error, constructPath: where.constructPath, ...(where.source ? { source: where.source } : {}) });
          continue;
        }
        const manifest = rendered.manifest;
        if (manifest.metadata?.namespace !== undefined && !isNamespaced(manifest.apiVersion, manifest.kind)) {
          // cdk8s stamps the chart namespace on everything; cluster-scoped kinds have none.
          delete manifest.metadata.namespace;
        }
        if (!this.acceptCdk8sPlusDefaults && plusDefaultsOf(declaredBy).length > 0) {
          if (defaultsWarning) defaultsWarning.others++;
          else {
            defaultsWarning = { index: diagnostics.length, others: 0 };
            diagnostics.push(plusDefaultsWarning(declaredBy, manifest, where));
          }
        }
        const object: RenderedObject = { manifest, chart: stem, ...where };
        indexOf.set(o, objects.length);
        const deps = o.node.dependencies.filter((d): d is ApiObject => d instanceof ApiObject);
        if (deps.length) dependencies.push([objects.length, deps]);
        objects.push(object);
        if (!rules) continue;
        for (const d of checkRules(manifest)) {
          diagnostics.push({ ...d, object: objectRef(manifest), ...where });
        }
      }
    }
    if (defaultsWarning?.others) {
      const d = diagnostics[defaultsWarning.index];
      const more = defaultsWarning.others === 1 ? '1 more workload gets' : `${defaultsWarning.others} more workloads get`;
      diagnostics[defaultsWarning.index] = { ...d, message: `${d.message}; ${more} some of them too (this warning is shown once)` };
    }
    for (const [i, deps] of dependencies) {
      const idx = deps.map((d) => indexOf.get(d)).filter((x): x is number => x !== undefined);
      if (idx.length) objects[i] = { ...objects[i], dependsOn: idx };
    }
    return { objects, diagnostics };
  }

  /**
   * Writes `<outdir>/<chart>.k8s.yaml` for every chart (or, under kgitops, the JSON protocol
   * file). Throws a DiagnosticError listing every error if any rule fails.
   */
  public override synth(): void {
    const protocolFile = process.env[SYNTH_OUTPUT_ENV];
    // Under kgitops the parent process checks the rules (with the schemas), so skip them here.
    const result = this.render({ rules: !protocolFile });
    if (protocolFile) {
      const out: SynthProtocolOutput = {
        protocol: 'kgitops-synth/v1',
        charts: [...new Set(result.objects.map((o) => o.chart))],
        ...result,
      };
      // `/dev/fd/<n>`: a pipe (a socket, from Node) to kgitops; writing to the descriptor itself
      // works for sockets, where opening /dev/fd/<n> does not.
      const fd = /^\/dev\/fd\/(\d+)$/.exec(protocolFile);
      writeFileSync(fd ? Number(fd[1]) : protocolFile, JSON.stringify(out));
      return;
    }
    for (const d of result.diagnostics.filter((x) => x.severity === 'warning')) console.error(formatDiagnostic(d));
    if (hasErrors(result.diagnostics)) throw new DiagnosticError(result.diagnostics, 'synth failed');
    writeManifests(this.outdir, result.objects);
  }
}

/** Writes one YAML file per chart and removes stale `*.k8s.yaml` files from earlier runs. */
export function writeManifests(outdir: string, objects: readonly RenderedObject[]): string[] {
  mkdirSync(outdir, { recursive: true });
  const byChart = new Map<string, Record<string, any>[]>();
  for (const o of objects) byChart.set(o.chart, [...(byChart.get(o.chart) ?? []), o.manifest]);
  const written: string[] = [];
  for (const [stem, manifests] of byChart) {
    const file = join(outdir, `${stem}.k8s.yaml`);
    writeFileSync(file, toYaml(manifests));
    written.push(file);
  }
  for (const f of readdirSync(outdir)) {
    if (f.endsWith('.k8s.yaml') && !written.includes(join(outdir, f))) rmSync(join(outdir, f));
  }
  return written;
}

/** The one warning about cdk8s-plus's defaults, on the first workload that gets any. */
function plusDefaultsWarning(c: IConstruct, manifest: Record<string, any>, where: { constructPath: string; source?: string }): Diagnostic {
  const defaults = plusDefaultsOf(c);
  return {
    severity: 'warning', rule: 'dsl/cdk8s-plus-defaults', object: objectRef(manifest), ...where,
    message: `cdk8s-plus gives this workload defaults that Kubernetes does not: ${describePlusDefaults(defaults)}`,
    hint: `to opt out: ${[...new Set(defaults.map((d) => d.optOut))].join('; ')}. `
      + 'To keep them and drop this warning: `new App({ acceptCdk8sPlusDefaults: true })`',
  };
}

/** The first known source line of the candidates: an L2's own, else the one recorded at creation. */
function sourceOf(...candidates: IConstruct[]): { source?: string } {
  for (const c of candidates) {
    const s = (isDeclared(c) ? c._source : recordedSource(c))?.toString();
    if (s) return { source: s };
  }
  return {};
}

type Rendered = { manifest: Record<string, any> } | { error: Omit<Diagnostic, 'constructPath' | 'source'> };

/**
 * `o.toJson()`, with o's JSON patches applied to the manifest it renders rather than inside
 * toJson: there an L1 class applies them to its props before turning those into JSON, so a patch
 * saw TypeScript field names and wrapper objects (`/spec/scaleStrategy/disablePvcReuse`,
 * `{ value: '20%' }`) instead of the manifest it patches. Each failing patch is named with its path.
 */
function renderApiObject(o: ApiObject): Rendered {
  // ApiObject keeps its patches in a private array; without it, toJson applies them as cdk8s does.
  const patches = (o as unknown as { patches?: JsonPatch[] }).patches;
  const ops = Array.isArray(patches) ? patches.splice(0) : [];
  let manifest: Record<string, any>;
  try {
    manifest = o.toJson();
  } catch (e) {
    return { error: { severity: 'error', rule: 'construct/render', ...renderFailure(o, e as Error) } };
  } finally {
    patches?.push(...ops);
  }
  for (const op of ops) {
    const { op: kind, path, from } = op._toJson() as { op: string; path: string; from?: string };
    try {
      const missing = missingPatchPath(manifest, kind, path, from);
      if (missing) throw new Error(missing);
      manifest = JsonPatch.apply(manifest, op);
    } catch (e) {
      const reason = String((e as Error).message).split('\n')[0];
      return {
        error: {
          severity: 'error', rule: 'construct/json-patch', path: pointerToPath(path),
          object: objectRef(manifest),
          message: `JSON patch ${kind} ${from ? `from ${from} to ` : ''}${path} cannot be applied: ${reason.charAt(0).toLowerCase()}${reason.slice(1)}`,
          hint: 'patches apply to the manifest as synthesized, in its own field names (see `kgitops synth --no-write -o json`); '
            + '`add` creates a field (its parent must exist), `replace` and `remove` need an existing one',
        },
      };
    }
  }
  return { manifest };
}

/** Why a patch cannot apply, in the manifest's terms (fast-json-patch says "cannot read properties of undefined"). */
function missingPatchPath(manifest: unknown, op: string, path: string, from: string | undefined): string | undefined {
  const segments = (pointer: string) => pointer.split('/').slice(1).map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  const exists = (pointer: string): boolean => {
    let node: unknown = manifest;
    for (const seg of segments(pointer)) {
      if (node === null || typeof node !== 'object' || !Object.prototype.hasOwnProperty.call(node, seg)) return false;
      node = (node as Record<string, unknown>)[seg];
    }
    return true;
  };
  const parent = (pointer: string) => pointer.slice(0, pointer.lastIndexOf('/'));
  if (from !== undefined && !exists(from)) return `${pointerToPath(from) || 'the source'} does not exist in the manifest`;
  if (op === 'replace' || op === 'remove' || op === 'test') {
    if (!exists(path)) return `${pointerToPath(path)} does not exist in the manifest`;
  } else if (path !== '' && !exists(parent(path))) {
    return `${pointerToPath(parent(path)) || 'its parent'} does not exist in the manifest`;
  }
  return undefined;
}

/** An exception from rendering, without cdk8s's wrapper ("Failed serializing construct at path ..."). */
function renderFailure(o: ApiObject, e: Error): { message: string; hint: string } {
  const inner = /^Failed serializing construct at path '[^']*' with name '[^']*': (?:\w*Error: )?([\s\S]*)$/.exec(e.message)?.[1] ?? e.message;
  return {
    message: `cannot render ${o.kind} ${o.name}: ${inner}`,
    hint: 'a prop of this construct probably has the wrong type (a number where a Duration, Size or Cpu belongs?); `npx tsc --noEmit` shows which',
  };
}

/** `/spec/template/spec/containers/0` to `spec.template.spec.containers[0]`. */
function pointerToPath(pointer: string): string {
  return pointer.split('/').slice(1).reduce<string>((acc, raw) => {
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    return joinPath(acc, /^\d+$/.test(seg) ? Number(seg) : seg);
  }, '');
}

/**
 * cdk8s dependencies are declared between constructs; ordering works on ApiObjects. Every
 * ApiObject under a dependent construct comes after every ApiObject under its dependency.
 */
function linkApiObjectDependencies(all: IConstruct[]): void {
  for (const source of all) {
    for (const target of source.node.dependencies) {
      const sources = source.node.findAll().filter((x) => x instanceof ApiObject);
      const targets = target.node.findAll().filter((x) => x instanceof ApiObject);
      for (const s of sources) {
        for (const t of targets) {
          if (s !== t && Chart.of(s) === Chart.of(t)) s.node.addDependency(t);
        }
      }
      const sc = Chart.of(source);
      const tc = Chart.of(target);
      if (sc !== tc) sc.node.addDependency(tc);
    }
  }
}

/** cdk8s's file names: `<chart>` or, when charts depend on each other, `0000-<chart>` in apply order. */
function chartStems(charts: Chart[]): Map<Chart, string> {
  const indexed = charts.some((c) => c.node.dependencies.length > 0 || c.node.children.some((x) => x instanceof Chart));
  return new Map(charts.map((c, i) => [c, `${indexed ? `${String(i).padStart(4, '0')}-` : ''}${Names.toDnsLabel(c)}`]));
}

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
import { ApiObject, App as Cdk8sApp, type AppProps, Chart, DependencyGraph, Names } from 'cdk8s';
import type { IConstruct } from 'constructs';
import { type Diagnostic, DiagnosticError, formatDiagnostic, hasErrors, type ObjectRef } from './diagnostics.js';
import { isNamespaced } from './kinds.js';
import { toYaml } from './output.js';
import { checkRules } from './rules.js';
import { isDeclared } from './workloads/base.js';

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

export class App extends Cdk8sApp {
  constructor(props: AppProps = {}) {
    super(props);
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
    for (const chart of this.charts) {
      const stem = stems.get(chart)!;
      const apiObjects = new DependencyGraph(chart.node).topology()
        .filter((x): x is ApiObject => x instanceof ApiObject && Chart.of(x) === chart);
      for (const o of apiObjects) {
        const declaredBy = o.node.id === 'Resource' && o.node.scope ? o.node.scope : o;
        let manifest: Record<string, any>;
        try {
          manifest = o.toJson();
        } catch (e) {
          diagnostics.push({
            severity: 'error', rule: 'construct/render', message: (e as Error).message,
            constructPath: declaredBy.node.path, ...sourceOf(declaredBy),
          });
          continue;
        }
        if (manifest.metadata?.namespace !== undefined && !isNamespaced(manifest.apiVersion, manifest.kind)) {
          // cdk8s stamps the chart namespace on everything; cluster-scoped kinds have none.
          delete manifest.metadata.namespace;
        }
        const rendered: RenderedObject = { manifest, chart: stem, constructPath: declaredBy.node.path, ...sourceOf(declaredBy) };
        indexOf.set(o, objects.length);
        const deps = o.node.dependencies.filter((d): d is ApiObject => d instanceof ApiObject);
        if (deps.length) dependencies.push([objects.length, deps]);
        objects.push(rendered);
        if (!rules) continue;
        for (const d of checkRules(manifest)) {
          diagnostics.push({ ...d, object: objectRef(manifest), constructPath: rendered.constructPath, source: rendered.source });
        }
      }
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

function sourceOf(c: IConstruct): { source?: string } {
  const s = isDeclared(c) ? c._source.toString() : undefined;
  return s ? { source: s } : {};
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

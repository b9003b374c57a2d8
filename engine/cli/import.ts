/** `kgitops import <paths...> [-o file.ts]`: existing YAML as TypeScript with the kruise-gitops constructs. */
import { existsSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { Command } from 'commander';
import { manifestFiles, PathError, readManifestFile } from '../validate/files.js';
import { printFailure, reportError } from './errors.js';
import { ExitCode, type OutputFormat, parseFormat, printDiagnostics } from './output.js';

interface ImportFlags {
  out?: string;
  className?: string;
  force?: boolean;
  report: OutputFormat;
}

export function registerImport(program: Command): void {
  program
    .command('import')
    .argument('[paths...]', 'YAML or JSON files, directories (walked), or - for standard input')
    .description('Turn existing manifests (kubectl YAML, Helm output) into TypeScript with the kruise-gitops constructs, which synthesizes back to the same objects')
    .option('-o, --out <file.ts>', 'write the TypeScript here (default: standard output)')
    .option('--class <name>', 'name of the chart class written', 'ImportedChart')
    .option('--force', 'overwrite --out if it exists')
    .option('--report <format>', 'the summary on standard error (text), or as JSON on standard output with --out (json)', parseFormat, 'text')
    .addHelpText('after', `
Every Kruise kind becomes its construct (CloneSet, AdvancedStatefulSet, SidecarSet, WorkloadSpread,
ImagePullJob, ...) with static factories, Durations and int-or-percent values. Other kinds
(Services, ConfigMaps, Deployments, other operators' resources) stay plain cdk8s ApiObjects.

Nothing is lost: each object is built with the code about to be written and rendered, and what
its construct renders differently becomes an addJsonPatch(...) on it, with a comment. Pod
templates are kept as written (the podTemplate prop): rewritten as cdk8s-plus containers, they
would get cdk8s-plus's defaults and every pod would restart once. Server-set metadata (uid,
resourceVersion, managedFields, ...) and status are left out, and the comment says so.

Exit codes: 0 imported, 1 imported but some objects do not pass validation (synth will report
them; see kgitops validate), 2 usage error (no input, --out exists) or crash.

Examples:
  kgitops import deploy/ -o lib/imported.ts
  helm template shop ./chart | kgitops import - --class ShopChart -o lib/shop.ts
  kgitops import k8s/cloneset.yaml                 print to standard output`)
    .action(async (paths: string[], opts: ImportFlags & { class?: string }) => {
      process.exitCode = await runImport(paths, { ...opts, className: opts.class });
    });
}

function className(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  return /^[A-Z][A-Za-z0-9_]*$/.test(name) ? name : undefined;
}

async function runImport(paths: string[], opts: ImportFlags): Promise<number> {
  const format = opts.report;
  if (paths.length === 0) {
    printFailure('nothing to import: name files or directories, or - for standard input', 'e.g. kgitops import deploy/ -o lib/imported.ts', format, 'Usage');
    return ExitCode.ERROR;
  }
  const cls = className(opts.className ?? 'ImportedChart');
  if (!cls) {
    printFailure(`--class ${opts.className}: not a class name`, 'use a PascalCase identifier, e.g. --class ShopChart', format, 'Usage');
    return ExitCode.ERROR;
  }
  if (opts.out && existsSync(opts.out) && !opts.force) {
    printFailure(`${opts.out} exists`, 'choose another --out, or pass --force to overwrite it', format, 'Usage');
    return ExitCode.ERROR;
  }
  try {
    const files = manifestFiles(paths);
    const objects = [];
    const problems = [];
    for (const f of files) {
      const r = readManifestFile(f);
      problems.push(...r.problems);
      objects.push(...r.objects);
    }
    if (problems.some((p) => p.severity === 'error')) {
      printDiagnostics(problems, process.stderr);
      printFailure('some files could not be read as manifests: nothing was imported', 'fix the YAML above (kgitops validate shows the same)', format, 'Invalid');
      return ExitCode.INVALID;
    }
    if (objects.length === 0) {
      printFailure('no Kubernetes objects found', 'the files have no documents with apiVersion and kind', format, 'Usage');
      return ExitCode.ERROR;
    }
    // Loaded here: the DSL and cdk8s-plus take a moment, not needed for --help or a usage error.
    const [{ importManifests }, { validateObjects }] = await Promise.all([import('../import/index.js'), import('../validate/index.js')]);
    const started = performance.now();
    const names = files.map((f) => (f.file === '-' ? 'standard input' : f.file));
    const result = importManifests(objects.map((o) => ({ manifest: o.manifest, source: `${o.file === '-' ? 'stdin' : o.file}:${o.line}` })), {
      className: cls, files: names.length > 3 ? [`${names.length} files`] : names,
    });
    const invalid = validateObjects(objects.map((o) => ({ manifest: o.manifest, chart: o.file, constructPath: '', source: `${o.file}:${o.line}` })))
      .filter((d) => d.severity === 'error');
    if (opts.out) {
      try {
        writeFileSync(opts.out, result.code);
      } catch (e) {
        printFailure(`cannot write ${opts.out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'check that its directory exists and is writable, or choose another --out', format, 'Usage');
        return ExitCode.ERROR;
      }
    } else {
      process.stdout.write(result.code);
    }
    const constructs = result.objects.filter((o) => o.construct !== 'ApiObject').length;
    const patched = result.objects.filter((o) => o.patches.length > 0);
    const ms = Math.round(performance.now() - started);
    if (format === 'json' && opts.out) {
      process.stdout.write(`${JSON.stringify({ ok: invalid.length === 0, out: opts.out, summary: { objects: result.objects.length, constructs, apiObjects: result.objects.length - constructs, patched: patched.length, invalid: invalid.length, durationMs: ms }, objects: result.objects }, null, 2)}\n`);
    } else {
      const w = (s: string) => process.stderr.write(`${s}\n`);
      w(`imported ${result.objects.length} object(s)${opts.out ? ` into ${opts.out}` : ''}: ${constructs} as kruise-gitops constructs, ${result.objects.length - constructs} as ApiObjects; ${(ms / 1000).toFixed(2)} s`);
      for (const o of patched) w(`  ${o.source} ${o.kind} ${o.name}: ${o.patches.length} field(s) kept as written with addJsonPatch (${o.patches.slice(0, 3).join(', ')}${o.patches.length > 3 ? ', ...' : ''})`);
      if (invalid.length) {
        w(`${invalid.length} error(s) in the input: kgitops synth will report them in the imported code too (kgitops validate ${paths.join(' ')} lists them)`);
      }
      if (opts.out && extname(opts.out) !== '.ts') w(`note: ${opts.out} is TypeScript; name it .ts`);
    }
    return invalid.length ? ExitCode.INVALID : ExitCode.OK;
  } catch (e) {
    if (e instanceof PathError) {
      printFailure(e.message, 'name YAML or JSON files, directories, or - for standard input', format, 'Usage');
      return ExitCode.ERROR;
    }
    return reportError(e, format);
  }
}

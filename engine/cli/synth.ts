/** `kgitops synth [dir]`: run the cdk8s app, validate every object, write deterministic manifests. */
import { relative } from 'node:path';
import type { Command } from 'commander';
import { synthesize } from '../synth/index.js';
import { reportError } from './errors.js';
import { ExitCode, type OutputFormat, parseFormat, printDiagnostics, progress } from './output.js';
import { addSandboxOptions, type SandboxFlags, sandboxFromFlags } from './sandbox.js';

export function registerSynth(program: Command): void {
  const cmd = program
    .command('synth')
    .argument('[dir]', 'directory with cdk8s.yaml', '.')
    .description('Run the cdk8s app of <dir>, validate every object against the OpenKruise CRDs, the Kubernetes schemas and Kruise\'s webhook rules, and write <output>/<chart>.k8s.yaml')
    .option('-o, --output <format>', 'text or json', parseFormat, 'text')
    .option('--no-write', 'validate only; write no files')
    .option('--no-policies', 'skip the policies (built-in pack and policies/*.ts)')
    .option('--no-typecheck', 'do not type-check the app before running it')
    .option('--timeout <seconds>', 'stop the app after this long', (v) => Number(v), 120);
  addSandboxOptions(cmd)
    .addHelpText('after', `
Types: the app (its \`npx tsx <file>\` entry, what it imports, and policies/*.ts) is type-checked
with TypeScript in the sandbox before it runs; a type error (a misspelt prop, say) makes the app
invalid and it does not run. --no-typecheck skips that.

Policies: the built-in pack and the repo's policies/*.ts run on every object (see README,
"Policies as code"); an error-level violation makes the app invalid.

The app and the policies run in the sandbox (no network, the checkout read-only; see
\`kgitops sandbox\`); without one, kgitops refuses to run them (--unsafe-no-sandbox for code
you trust).

Exit codes: 0 valid (files written), 1 invalid (nothing written), 2 usage error or crash.

Examples:
  kgitops synth examples            write examples/dist/*.k8s.yaml
  kgitops synth --no-write          check the app in the current directory
  kgitops synth -o json | jq .summary`)
    .action(async (dir: string, opts: { output: OutputFormat; write: boolean; timeout: number; policies: boolean; typecheck: boolean } & SandboxFlags) => {
      process.exitCode = await runSynth(dir, opts);
    });
}

export async function runSynth(dir: string, opts: { output: OutputFormat; write: boolean; timeout: number; policies?: boolean; typecheck?: boolean } & SandboxFlags): Promise<number> {
  try {
    sandboxFromFlags(opts);
    progress(`synthesizing ${dir} ...`);
    const r = await synthesize(dir, { write: opts.write, timeoutMs: opts.timeout * 1000, policies: opts.policies !== false, typecheck: opts.typecheck !== false });
    const byKind: Record<string, number> = {};
    for (const o of r.objects) byKind[o.manifest.kind] = (byKind[o.manifest.kind] ?? 0) + 1;
    const byChart: Record<string, number> = {};
    for (const o of r.objects) byChart[o.chart] = (byChart[o.chart] ?? 0) + 1;
    const errors = r.diagnostics.filter((d) => d.severity === 'error');
    const warnings = r.diagnostics.filter((d) => d.severity === 'warning');
    if (opts.output === 'json') {
      process.stdout.write(`${JSON.stringify({
        ok: r.ok,
        summary: { objects: r.objects.length, byKind, byChart, errors: errors.length, warnings: warnings.length },
        files: r.files.map((f) => relative(process.cwd(), f)),
        policies: r.policies,
        diagnostics: r.diagnostics,
        timings: r.timings,
      }, null, 2)}\n`);
    } else {
      printDiagnostics(r.diagnostics);
      const kinds = Object.entries(byKind).sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${n}`).join(', ');
      const out = process.stdout;
      out.write(`${r.objects.length} objects in ${Object.keys(byChart).length} chart(s): ${kinds || 'none'}\n`);
      out.write(`app ${(r.timings.appMs / 1000).toFixed(1)} s, validation ${(r.timings.validateMs / 1000).toFixed(2)} s, ${r.policies.length} policies ${(r.timings.policyMs / 1000).toFixed(2)} s; ${errors.length} error(s), ${warnings.length} warning(s)\n`);
      if (r.ok) {
        for (const f of r.files) out.write(`wrote ${relative(process.cwd(), f)} (${byChart[f.replace(/^.*\//, '').replace(/\.k8s\.yaml$/, '')] ?? 0} objects)\n`);
      } else {
        out.write('invalid: nothing written\n');
      }
    }
    return r.ok ? ExitCode.OK : ExitCode.INVALID;
  } catch (e) {
    return reportError(e, opts.output);
  }
}

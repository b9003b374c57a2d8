/** `kgitops validate [paths...]`: existing YAML (kubectl manifests, Helm output) checked as synth checks. */
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { PathError } from '../validate/files.js';
import { validateFiles } from '../validate/existing.js';
import { printFailure, reportError } from './errors.js';
import { ExitCode, type OutputFormat, parseFormat, printDiagnostics } from './output.js';
import { addSandboxOptions, type SandboxFlags, sandboxFromFlags } from './sandbox.js';

export function registerValidate(program: Command): void {
  const cmd = program
    .command('validate')
    .argument('[paths...]', 'YAML or JSON files, directories (walked), or - for standard input')
    .description('Validate existing manifests (kubectl YAML, Helm output) against the OpenKruise CRDs, the Kubernetes schemas, Kruise\'s webhook rules and the policies, as synth validates rendered objects')
    .option('-o, --output <format>', 'text or json', parseFormat, 'text')
    .option('--policies <app-dir>', 'enforce the policies of this cdk8s app (its kgitops.yaml pack and policies/*.ts, in the sandbox) instead of the built-in pack as advice')
    .option('--no-policies', 'run no policies: schemas and Kruise rules only');
  addSandboxOptions(cmd)
    .addHelpText('after', `
Every document of every file is one object (a v1 List: each item). Directories are walked for
*.yaml, *.yml and *.json, skipping hidden directories, node_modules, and files that are never
manifests (Chart.yaml, values*.yaml, kustomization.yaml, package.json, tsconfig*.json); in a
walked directory, a document that has neither apiVersion nor kind is skipped and counted.

Each problem says the file and line (of the field, when the YAML has it), the object, the JSON
path, what is wrong and what to do. Objects of kinds kgitops has no schema for (other operators'
custom resources) are reported as not validated, a warning.

Policies: by default the built-in pack runs as advice (warnings), as for an app without a
policies/ directory; --policies <app-dir> runs that app's configured pack and policies/*.ts,
whose errors make the input invalid.

Exit codes: 0 valid, 1 invalid, 2 usage error (no such file, bad flag) or crash.

Examples:
  kgitops validate deploy/                     every manifest under deploy/
  helm template shop ./chart | kgitops validate -
  kgitops validate k8s/ --policies . -o json | jq '.diagnostics[] | select(.severity == "error")'`)
    .action(async (paths: string[], opts: { output: OutputFormat; policies: boolean | string } & SandboxFlags) => {
      process.exitCode = await runValidate(paths, opts);
    });
}

async function runValidate(paths: string[], opts: { output: OutputFormat; policies: boolean | string } & SandboxFlags): Promise<number> {
  if (paths.length === 0) {
    printFailure('nothing to validate: name files or directories, or - for standard input', 'e.g. kgitops validate deploy/, or helm template . | kgitops validate -', opts.output, 'Usage');
    return ExitCode.ERROR;
  }
  try {
    const policiesOf = typeof opts.policies === 'string' ? opts.policies : undefined;
    if (policiesOf && !statSync(policiesOf, { throwIfNoEntry: false })?.isDirectory()) {
      printFailure(`--policies ${policiesOf}: no such directory`, 'pass the directory of the cdk8s app whose policies to enforce (the one with cdk8s.yaml and policies/)', opts.output, 'Usage');
      return ExitCode.ERROR;
    }
    if (policiesOf) sandboxFromFlags(opts);
    const r = await validateFiles(paths, { policies: opts.policies !== false, ...(policiesOf ? { policiesOf } : {}) });
    const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
    const warnings = r.diagnostics.length - errors;
    if (opts.output === 'json') {
      process.stdout.write(`${JSON.stringify({
        ok: r.ok,
        summary: { files: r.files, objects: r.objects, kinds: r.kinds, skipped: r.skipped, errors, warnings, durationMs: r.durationMs },
        policies: r.policies,
        diagnostics: r.diagnostics,
      }, null, 2)}\n`);
    } else {
      printDiagnostics(r.diagnostics, process.stdout);
      const skipped = r.skipped ? `, ${r.skipped} document(s) that are not Kubernetes objects skipped` : '';
      process.stdout.write(`${r.ok ? 'valid' : 'invalid'}: ${r.objects} object(s) in ${r.files} file(s)${skipped}; ${errors} error(s), ${warnings} warning(s); ${(r.durationMs / 1000).toFixed(2)} s\n`);
    }
    return r.ok ? ExitCode.OK : ExitCode.INVALID;
  } catch (e) {
    if (e instanceof PathError) {
      printFailure(e.message, 'name YAML or JSON files, directories, or - for standard input', opts.output, 'Usage');
      return ExitCode.ERROR;
    }
    return reportError(e, opts.output);
  }
}

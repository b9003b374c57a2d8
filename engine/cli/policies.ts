/** `kgitops policies [dir]`: the policies synth, diff and the engine run for an app, as configured. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { checkPolicies, POLICIES_DIR, policyFiles } from '../policy/host.js';
import { builtinsOff } from '../policy/run.js';
import { UsageError } from '../synth/index.js';
import { ExitCode, type OutputFormat, parseFormat, printDiagnostics, table } from './output.js';
import { addSandboxOptions, type SandboxFlags, sandboxFromFlags } from './sandbox.js';
import { reportError } from './errors.js';

export function registerPolicies(program: Command): void {
  addSandboxOptions(program
    .command('policies'))
    .argument('[dir]', 'directory with cdk8s.yaml (and policies/)', '.')
    .description('List the policies that synth, diff and the sync engine run for the app in <dir>: name, severity, where each comes from, and the built-in rules that are off')
    .option('-o, --output <format>', 'text or json', parseFormat, 'text')
    .option('--timeout <seconds>', 'stop loading the policy files after this long', (v) => Number(v), 60)
    .addHelpText('after', `
Without a policies/ directory the built-in pack runs as warnings: it advises and never blocks.
With one (even a file that only says \`export default policySet({})\`), every policy is enforced:
an error-level violation makes synth invalid, diff exit 2 and the engine skip the commit.

Exit codes: 0 listed, 1 a policy file does not load or is misconfigured (the engine would
block every commit), 2 usage error.

Examples:
  kgitops policies examples
  kgitops policies -o json | jq '.policies[] | select(.severity == "error") | .name'`)
    .action(async (dir: string, opts: { output: OutputFormat; timeout: number } & SandboxFlags) => {
      sandboxFromFlags(opts);
      process.exitCode = await runPolicies(dir, opts);
    });
}

export async function runPolicies(dir: string, opts: { output: OutputFormat; timeout: number }): Promise<number> {
  try {
    if (!existsSync(join(dir, 'cdk8s.yaml'))) {
      throw new UsageError(`${join(dir, 'cdk8s.yaml')} not found: policies belong to a cdk8s app, in ${POLICIES_DIR}/ next to its cdk8s.yaml`, 'pass the directory that has cdk8s.yaml');
    }
    // Loading the policies with nothing to check runs the same process synth runs: a file that
    // fails to load fails here too.
    const r = await checkPolicies(dir, [], undefined, { timeoutMs: opts.timeout * 1000 });
    const files = policyFiles(join(dir, POLICIES_DIR)).map((f) => `${POLICIES_DIR}/${f}`);
    const off = builtinsOff(r.catalog);
    const broken = r.diagnostics.some((d) => d.severity === 'error');
    if (opts.output === 'json') {
      process.stdout.write(`${JSON.stringify({ enforced: r.enforced, files, policies: r.catalog, builtinOff: off, diagnostics: r.diagnostics }, null, 2)}\n`);
    } else {
      printDiagnostics(r.diagnostics);
      const out = process.stdout;
      out.write(r.enforced
        ? `${r.catalog.length} policies from ${files.join(', ')} and the built-in pack: errors block synth, diff and the engine\n`
        : `no ${POLICIES_DIR}/ directory: the built-in pack runs as warnings and blocks nothing (add ${POLICIES_DIR}/*.ts to enforce it)\n`);
      if (r.catalog.length) {
        out.write(`\n${table([['NAME', 'SEVERITY', 'FROM', 'KINDS', 'DESCRIPTION'], ...r.catalog.map((p) => [p.name, p.severity, p.from, p.kinds?.join(',') ?? 'all', p.description])])}`);
      }
      if (off.length) out.write(`\nbuilt-in, off: ${off.join(', ')}${off.includes('sidecar-registries') ? ' (sidecar-registries runs once its registries are configured)' : ''}\n`);
    }
    return broken ? ExitCode.INVALID : ExitCode.OK;
  } catch (e) {
    return reportError(e);
  }
}

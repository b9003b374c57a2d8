/** `kgitops diff`: what a change does to the rendered manifests and the releases, for review. */
import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { DiffResult } from '../diff/index.js';
import { formatJson, formatMarkdown, formatText } from '../diff/format.js';
import { diffLive } from '../diff/live.js';
import { diffRefs } from '../diff/run.js';
import { ExitCode, progress } from './output.js';
import { addSandboxOptions, type SandboxFlags, sandboxFromFlags } from './sandbox.js';
import { reportError } from './errors.js';

type DiffFormat = 'text' | 'markdown' | 'json';

interface DiffFlags {
  base?: string;
  head?: string;
  format: DiffFormat;
  live?: boolean;
  kubeconfig?: string;
  context?: string;
  app?: string;
  namespace?: string;
  parentNamespace?: string;
  policies: boolean;
  typecheck: boolean;
  timeout: number;
  outputFile?: string;
}

/** 0 no change, 1 changes, 2 error (including a head that would not be applied). */
export function diffExitCode(r: DiffResult): number {
  if (r.head.diagnostics.some((d) => d.severity === 'error')) return ExitCode.ERROR;
  return r.objects.length ? ExitCode.INVALID : ExitCode.OK;
}

export function format(r: DiffResult, f: DiffFormat): string {
  return f === 'json' ? formatJson(r) : f === 'markdown' ? formatMarkdown(r) : formatText(r);
}

export function registerDiff(program: Command): void {
  addSandboxOptions(program
    .command('diff'))
    .argument('[dir]', 'directory with cdk8s.yaml, inside a git repo', '.')
    .description('Compare the rendered manifests of two versions (git refs, or the working tree): per-object changes, release-relevant fields, release previews and policy results')
    .option('--base <ref>', 'the version to compare with', 'HEAD')
    .option('--head <ref>', 'the version to review (default: the working tree, uncommitted changes included)')
    .addOption(new Option('-f, --format <format>', 'text, markdown (a pull-request comment) or json').choices(['text', 'markdown', 'json']).default('text'))
    .addOption(new Option('-o, --output <format>', 'same as --format').choices(['text', 'markdown', 'json']))
    .option('--output-file <file>', 'also write the result to this file (stdout still gets it)')
    .option('--live', 'compare the head with the cluster instead of --base (server-side apply dry-run)')
    .option('--kubeconfig <file>', 'kubeconfig for --live (default: $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context for --live')
    .option('--app <name>', 'for --live: the app name the engine syncs with (finds pruned objects through its ApplySet)')
    .option('-n, --namespace <ns>', 'for --live: namespace for objects that name none', 'default')
    .option('--parent-namespace <ns>', 'for --live: namespace of the ApplySet parent (default: --namespace)')
    .option('--no-policies', 'skip the policies')
    .option('--no-typecheck', 'do not type-check the head before running it')
    .option('--timeout <seconds>', 'stop an app that synthesizes longer than this', (v) => Number(v), 120)
    .addHelpText('after', `
Both versions synthesize in parallel in temporary git worktrees. Objects match by group, kind,
namespace and name. Lines marked ! (text) or listed under "Release-relevant" (markdown) change
what a release does: images, replicas, update strategy, partition, paused, release gates. A
workload whose pod template changes shows its release preview.

Exit codes: 0 no change, 1 changes, 2 error: bad usage, a failed checkout, or a head that would
not be applied (a type error, synth, schema, Kruise rule or an error-level policy). The output is printed in
every case, so a CI job can post it and then fail on 2.

Examples:
  kgitops diff examples                              HEAD vs your uncommitted changes
  kgitops diff --base origin/main --head HEAD -f markdown > diff.md
  kgitops diff --live --app shop --kubeconfig ~/.kube/config examples`)
    .action(async (dir: string, flags: DiffFlags & SandboxFlags & { output?: DiffFormat }) => {
      process.exitCode = await runDiff(dir, { ...flags, format: flags.output ?? flags.format });
    });
}

export async function runDiff(dir: string, flags: DiffFlags & SandboxFlags): Promise<number> {
  try {
    sandboxFromFlags(flags);
    const r = flags.live
      ? await diffLive({
        dir, ...(flags.head ? { head: flags.head } : {}), kubeconfig: flags.kubeconfig, context: flags.context, app: flags.app,
        namespace: flags.namespace ?? 'default', parentNamespace: flags.parentNamespace ?? flags.namespace ?? 'default',
        policies: flags.policies, typecheck: flags.typecheck !== false, timeoutMs: flags.timeout * 1000, onProgress: progress,
      })
      : await diffRefs({ dir, base: flags.base, ...(flags.head ? { head: flags.head } : {}), policies: flags.policies, typecheck: flags.typecheck !== false, timeoutMs: flags.timeout * 1000, onProgress: progress });
    const text = format(r, flags.format);
    process.stdout.write(text);
    if (flags.outputFile) writeFileSync(flags.outputFile, text);
    if (r.timings) progress(`diff took ${(r.timings.totalMs / 1000).toFixed(1)} s`);
    return diffExitCode(r);
  } catch (e) {
    return reportError(e, flags.format);
  }
}

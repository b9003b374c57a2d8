/** The `kgitops` command line. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { ENGINE_ROOT } from '../synth/runtime.js';
import { ExitCode } from './output.js';
import { reportError } from './errors.js';

type Register = (program: Command) => void;

/**
 * The command modules, in help order. Each loads what its commands run on (the sync engine, the
 * Kubernetes client, the simulated cluster, the release machinery); loading all of them for
 * every run cost `kgitops synth` seconds of start-up. So only the module of the command being
 * run is loaded; help, and anything that names no command, loads them all.
 */
const MODULES: { commands: readonly string[]; load: () => Promise<Register> }[] = [
  { commands: ['init'], load: async () => (await import('./init.js')).registerInit },
  { commands: ['synth'], load: async () => (await import('./synth.js')).registerSynth },
  { commands: ['validate'], load: async () => (await import('./validate.js')).registerValidate },
  { commands: ['import'], load: async () => (await import('./import.js')).registerImport },
  { commands: ['diff'], load: async () => (await import('./diff.js')).registerDiff },
  { commands: ['policies'], load: async () => (await import('./policies.js')).registerPolicies },
  { commands: ['sync'], load: async () => (await import('./sync.js')).registerSync },
  { commands: ['controller'], load: async () => (await import('./controller.js')).registerController },
  { commands: ['install'], load: async () => (await import('./install.js')).registerInstall },
  { commands: ['status'], load: async () => (await import('./status.js')).registerStatus },
  { commands: ['demo'], load: async () => (await import('./demo.js')).registerDemo },
  { commands: ['approve', 'pause', 'resume', 'abort', 'preview'], load: async () => (await import('./release.js')).registerRelease },
  { commands: ['sandbox'], load: async () => (await import('./sandbox.js')).registerSandbox },
];

const program = new Command()
  .name('kgitops')
  .description('GitOps for OpenKruise: typed workloads, validated manifests, gated releases')
  .version(JSON.parse(readFileSync(join(ENGINE_ROOT, 'package.json'), 'utf8')).version)
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

// The command is the first argument (the program itself has no options that take a value).
const named = process.argv[2];
const only = MODULES.find((m) => named !== undefined && m.commands.includes(named));
for (const m of only ? [only] : MODULES) (await m.load())(program);

program.addHelpText('after', `
Start with:
  kgitops init my-repo                   a repo of your own that synthesizes at once
  kgitops synth examples                 synthesize and validate the example shop
  kgitops validate deploy/               validate existing YAML (kubectl manifests, Helm output)
  kgitops import deploy/ -o lib/imported.ts
                                          turn that YAML into TypeScript with the constructs
  kgitops sync --repo . --path examples --simulate --once
                                          apply it once to the built-in simulated cluster
  kgitops status --app shop --kubeconfig ~/.kube/config
  kgitops preview examples               the release plans, step by step
  kgitops diff --base origin/main examples
                                          what a change does to manifests and releases
  kgitops policies examples              the policies every commit must pass
  kgitops approve shop/storefront        approve the current step of a release
  kgitops sandbox                        what the sandbox for repo code is on this machine`);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? ExitCode.OK : ExitCode.ERROR;
  } else {
    // A user error that escaped its command still gets one line; only a bug gets a stack.
    process.exitCode = reportError(e);
  }
}

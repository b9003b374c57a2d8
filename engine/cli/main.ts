/** The `kgitops` command line. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { ENGINE_ROOT } from '../synth/runtime.js';
import { registerDemo } from './demo.js';
import { registerDiff } from './diff.js';
import { registerInit } from './init.js';
import { registerPolicies } from './policies.js';
import { registerRelease } from './release.js';
import { registerSandbox } from './sandbox.js';
import { registerStatus } from './status.js';
import { registerSync } from './sync.js';
import { registerSynth } from './synth.js';
import { ExitCode } from './output.js';
import { reportError } from './errors.js';

const program = new Command()
  .name('kgitops')
  .description('GitOps for OpenKruise: typed workloads, validated manifests, gated releases')
  .version(JSON.parse(readFileSync(join(ENGINE_ROOT, 'package.json'), 'utf8')).version)
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerInit(program);
registerSynth(program);
registerDiff(program);
registerPolicies(program);
registerSync(program);
registerStatus(program);
registerDemo(program);
registerRelease(program);
registerSandbox(program);

program.addHelpText('after', `
Start with:
  kgitops init my-repo                   a repo of your own that synthesizes at once
  kgitops synth examples                 synthesize and validate the example shop
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

/** The `kgitops` command line. */
import { Command, CommanderError } from 'commander';
import { registerSynth } from './synth.js';
import { ExitCode } from './output.js';

const program = new Command()
  .name('kgitops')
  .description('GitOps for OpenKruise: typed workloads, validated manifests, gated releases')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerSynth(program);

program.addHelpText('after', `
Start with:
  kgitops synth examples     synthesize and validate the example shop`);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? ExitCode.OK : ExitCode.ERROR;
  } else {
    process.stderr.write(`error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = ExitCode.ERROR;
  }
}

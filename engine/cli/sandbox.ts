/**
 * The sandbox on the command line: `--unsafe-no-sandbox` and the limit flags on every command
 * that runs repo code, and `kgitops sandbox`, which says what this machine's sandbox is (and
 * proves it with a trial run) before anyone relies on it.
 */
import type { Command } from 'commander';
import { ConfigError } from '../config.js';
import { baseLimits, parseSize, Sandbox, setProcessLimits } from '../sandbox/index.js';
import { ExitCode, type OutputFormat, parseFormat } from './output.js';
import { reportError } from './errors.js';

export interface SandboxFlags {
  unsafeNoSandbox?: boolean;
  maxOutput?: string;
  maxMemory?: string;
}

/** Adds the sandbox flags to a command that runs repo code. */
export function addSandboxOptions(cmd: Command): Command {
  return cmd
    .option('--unsafe-no-sandbox', 'run the repo\'s code without the sandbox (local experiments with code you trust; warns on every run)')
    .option('--max-output <size>', 'largest rendered output accepted from the app (default 64Mi)')
    .option('--max-memory <size>', 'memory of the app\'s whole process tree in the sandbox (default 2Gi)');
}

/**
 * Applies the flags for this process: the sandbox repo code runs in, and limits beyond the
 * defaults. Throws ConfigError on a bad size.
 */
export function sandboxFromFlags(flags: SandboxFlags): void {
  const size = (v: string | undefined, flag: string) => {
    if (v === undefined) return undefined;
    const n = parseSize(v);
    if (n === undefined) throw new ConfigError(`${flag}: "${v}" is not a size`, 'write e.g. 64Mi, 512Mi or 2Gi');
    return n;
  };
  if (flags.unsafeNoSandbox) Sandbox.useUnsafe();
  const outputBytes = size(flags.maxOutput, '--max-output');
  const memoryBytes = size(flags.maxMemory, '--max-memory');
  setProcessLimits({ ...(outputBytes ? { outputBytes } : {}), ...(memoryBytes ? { memoryBytes } : {}) });
}

export function registerSandbox(program: Command): void {
  program.command('sandbox')
    .description('Show the sandbox repo code runs in on this machine (bubblewrap, user, namespaces, limits), after a trial run')
    .option('-o, --output <format>', 'text or json', parseFormat, 'text')
    .addHelpText('after', `
Every run of repo code (the app in synth, diff, preview and sync, and the repo's policies) runs
in this sandbox: no network, only its checkout (read-only), its node_modules and a private /tmp,
an unprivileged user without capabilities, and limits on memory, processes, CPU, time, open
files and output. Exit codes: 0 the sandbox works here, 2 it does not (the message says why).`)
    .action(async (opts: { output: OutputFormat }) => {
      process.exitCode = await runSandboxCheck(opts);
    });
}

async function runSandboxCheck(opts: { output: OutputFormat }): Promise<number> {
  try {
    const sandbox = await Sandbox.default();
    const lines = sandbox.describe();
    if (opts.output === 'json') process.stdout.write(`${JSON.stringify({ ok: true, sandbox: lines, limits: baseLimits() }, null, 2)}\n`);
    else process.stdout.write(`the sandbox works here:\n${lines.map((l) => `  ${l}`).join('\n')}\n`);
    return ExitCode.OK;
  } catch (e) {
    if (opts.output === 'json') {
      process.stdout.write(`${JSON.stringify({ ok: false, error: (e as Error).message, hint: (e as { hint?: string }).hint }, null, 2)}\n`);
      return ExitCode.ERROR;
    }
    return reportError(e);
  }
}

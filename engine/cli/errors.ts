/**
 * How a command reports that it cannot do its job: one line saying what is wrong (and a `hint:`
 * line saying what to do) on stderr, and with `-o json` also a JSON error object on stdout, so
 * that a tool reading stdout learns why there is nothing else. Only a bug gets a stack trace.
 */
import { ApiError, ForbiddenError, KubeconfigError, oneLine, UnauthorizedError } from '../cluster/errors.js';
import { ConfigError } from '../config.js';
import { CommandError } from '../release/commands.js';
import { SandboxUnavailableError } from '../sandbox/index.js';
import { SourceError } from '../source/errors.js';
import { DependencyError } from '../synth/dependencies.js';
import { UsageError } from '../synth/run-app.js';
import { ExitCode } from './output.js';

/** What `-o json` prints when a command fails. */
export interface JsonError {
  readonly ok: false;
  readonly error: {
    readonly message: string;
    readonly hint?: string;
    /** A stable word for tools, e.g. NoKubeconfig, Unreachable, Unauthorized, Forbidden, Config. */
    readonly reason?: string;
  };
}

/** Errors that are the user's to fix (input, configuration, credentials, the cluster's answer). */
export function isUserError(e: unknown): e is Error & { hint?: string } {
  return e instanceof KubeconfigError || e instanceof ConfigError || e instanceof UsageError || e instanceof ApiError
    || e instanceof SandboxUnavailableError || e instanceof CommandError || e instanceof SourceError || e instanceof DependencyError;
}

/**
 * Credentials the cluster does not accept (401), or that RBAC does not allow what the command
 * needs (403): as much a usage error as a missing kubeconfig.
 */
export function isAccessError(e: unknown): boolean {
  return e instanceof KubeconfigError || e instanceof UnauthorizedError || e instanceof ForbiddenError;
}

function reasonOf(e: Error): string | undefined {
  if (e instanceof KubeconfigError) return e.problem;
  if (e instanceof ApiError) return e.reason;
  if (e instanceof ConfigError) return 'Config';
  if (e instanceof SourceError) return `Source:${e.kind}`;
  if (e instanceof SandboxUnavailableError) return 'SandboxUnavailable';
  if (e instanceof CommandError) return 'Refused';
  if (e instanceof UsageError) return 'Usage';
  if (e instanceof DependencyError) return 'Dependencies';
  return undefined;
}

/** Writes the failure (text on stderr; with `json` also the JsonError on stdout). */
export function printFailure(message: string, hint: string | undefined, format: string = 'text', reason?: string): void {
  const m = oneLine(message);
  const h = hint ? oneLine(hint) : undefined;
  process.stderr.write(`error: ${m}\n${h ? `hint: ${h}\n` : ''}`);
  if (format === 'json') {
    const body: JsonError = { ok: false, error: { message: m, ...(h ? { hint: h } : {}), ...(reason ? { reason } : {}) } };
    process.stdout.write(`${JSON.stringify(body)}\n`);
  }
}

/**
 * Reports `e` and returns the exit code: 2 for everything that reaches here (a usage error, a
 * cluster that cannot be used, a crash); commands map refusals to 1 before calling this.
 */
export function reportError(e: unknown, format: string = 'text'): number {
  if (isUserError(e)) {
    printFailure(e.message, e.hint, format, reasonOf(e));
  } else {
    // A bug: the stack is what its report needs.
    const err = e instanceof Error ? e : new Error(String(e));
    process.stderr.write(`error: ${err.stack ?? err.message}\n`);
    if (format === 'json') process.stdout.write(`${JSON.stringify({ ok: false, error: { message: oneLine(err.message), reason: 'InternalError' } } satisfies JsonError)}\n`);
  }
  return ExitCode.ERROR;
}

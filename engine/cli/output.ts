/** Shared CLI plumbing: exit codes, output formats, printing diagnostics. */
import { InvalidArgumentError } from 'commander';
import { type Diagnostic, formatDiagnostic } from '../../dsl/diagnostics.js';

/** Exit codes scripts can rely on. */
export const ExitCode = {
  OK: 0,
  /** Invalid input: a manifest, rule or policy failed (or, for diff, changes found). */
  INVALID: 1,
  /** Bad usage, bad configuration or a crash. */
  ERROR: 2,
} as const;

export type OutputFormat = 'text' | 'json';

export function parseFormat(v: string): OutputFormat {
  // commander's own error type: printed as a usage error (one line, exit 2), never as a crash.
  if (v !== 'text' && v !== 'json') throw new InvalidArgumentError(`--output must be text or json, got "${v}"`);
  return v;
}

export function printDiagnostics(ds: readonly Diagnostic[], stream: NodeJS.WritableStream = process.stderr): void {
  for (const d of ds) stream.write(`${formatDiagnostic(d)}\n`);
}

/** Progress goes to stderr so that stdout stays clean for --output json. */
export function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Columns padded to their widest cell; the last column runs free. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n') + '\n';
}

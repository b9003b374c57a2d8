/** Shared CLI plumbing: exit codes, output formats, printing diagnostics. */
import { InvalidArgumentError } from 'commander';
import { type Diagnostic, describeObject, formatDiagnostic } from '../../dsl/diagnostics.js';

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

export interface DiagnosticSummaryOptions {
  /** Errors listed one by one; past this many, the rest are counted by rule. @default 50 */
  readonly maxErrors?: number;
  /** A rule with more warnings than this is summarized, not listed. @default 3 */
  readonly groupAbove?: number;
  /** Warnings of a summarized rule shown as examples. @default 3 */
  readonly examples?: number;
  /** Where the complete list is, said once anything is left out. @default '-o json lists every one' */
  readonly fullListHint?: string;
}

/**
 * Diagnostics as people read them: every error (up to `maxErrors`), then the warnings by rule.
 * A rule that warns about many objects (10,000 CloneSets without a budget) is one block: how
 * many, the first few objects with their locations and messages, and its hint once, instead of
 * thousands of near-identical blocks that bury the errors. Machine output (`-o json`) keeps
 * every diagnostic.
 */
export function formatDiagnostics(ds: readonly Diagnostic[], options: DiagnosticSummaryOptions = {}): string {
  const maxErrors = options.maxErrors ?? 50;
  const groupAbove = options.groupAbove ?? 3;
  const examples = options.examples ?? 3;
  const fullList = options.fullListHint ?? '-o json lists every one';
  const blocks: string[] = [];
  const errors = ds.filter((d) => d.severity === 'error');
  for (const d of errors.slice(0, maxErrors)) blocks.push(formatDiagnostic(d));
  if (errors.length > maxErrors) {
    const rest = byRule(errors.slice(maxErrors));
    const counts = [...rest].map(([rule, list]) => `${list.length} ${rule}`).join(', ');
    blocks.push(`error: ${errors.length - maxErrors} more error(s) not shown (${counts}); ${fullList}`);
  }
  for (const [rule, list] of byRule(ds.filter((d) => d.severity !== 'error'))) {
    if (list.length <= groupAbove) {
      for (const d of list) blocks.push(formatDiagnostic(d));
      continue;
    }
    const lines = [`warning [${rule}] on ${list.length} objects; the first ${examples}:`];
    for (const d of list.slice(0, examples)) {
      const where = [d.source, d.constructPath && `construct ${d.constructPath}`, d.object && describeObject(d.object)].filter(Boolean).join(', ');
      lines.push(`  ${where || '(no location)'}`, `    ${d.path ? `${d.path}: ` : ''}${d.message}`);
    }
    lines.push(`  ... and ${list.length - examples} more; ${fullList}`);
    // The hint is the rule's advice: said once, unless the rule words it differently per object.
    const hints = [...new Set(list.map((d) => d.hint).filter((h): h is string => !!h))];
    for (const h of hints.slice(0, examples)) lines.push(`  hint: ${h}`);
    if (hints.length > examples) lines.push(`  (${hints.length - examples} other hints; ${fullList})`);
    blocks.push(lines.join('\n'));
  }
  return blocks.length ? `${blocks.join('\n')}\n` : '';
}

/** Diagnostics by rule, rules in order of first appearance, each list in its original order. */
function byRule(ds: readonly Diagnostic[]): Map<string, Diagnostic[]> {
  const out = new Map<string, Diagnostic[]>();
  for (const d of ds) {
    const list = out.get(d.rule);
    if (list) list.push(d);
    else out.set(d.rule, [d]);
  }
  return out;
}

/** Prints diagnostics for people (see formatDiagnostics), in one write. */
export function printDiagnostics(ds: readonly Diagnostic[], stream: NodeJS.WritableStream = process.stderr, options: DiagnosticSummaryOptions = {}): void {
  const text = formatDiagnostics(ds, options);
  if (text) stream.write(text);
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

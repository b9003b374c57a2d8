/**
 * Diagnostics: the one shape every check in kruise-gitops reports (webhook rules, schema
 * validation, policies, synth failures), so the CLI, the engine and tests print and compare
 * them the same way.
 */

export type Severity = 'error' | 'warning';

/** Identifies a Kubernetes object the way `kubectl` users read it. */
export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name?: string;
  readonly namespace?: string;
}

export interface Diagnostic {
  readonly severity: Severity;
  /** Stable rule id, e.g. `cloneset/in-place-only-max-surge` or `schema/unknown-field`. */
  readonly rule: string;
  /** What is wrong, in one sentence. */
  readonly message: string;
  /** What to do about it. */
  readonly hint?: string;
  /** The object the diagnostic is about. */
  readonly object?: ObjectRef;
  /** JSON path inside the object, e.g. `spec.updateStrategy.maxSurge`. */
  readonly path?: string;
  /** Construct path in the cdk8s tree, e.g. `shop/storefront`. */
  readonly constructPath?: string;
  /** Where the construct was declared, e.g. `examples/main.ts:42:5`. */
  readonly source?: string;
}

export function describeObject(ref: ObjectRef): string {
  const name = ref.name ?? '<unnamed>';
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${name} (${ref.apiVersion})`;
}

/** Multi-line, human-readable form used by the CLI and thrown errors. */
export function formatDiagnostic(d: Diagnostic): string {
  const where: string[] = [];
  if (d.source) where.push(d.source);
  if (d.constructPath) where.push(`construct ${d.constructPath}`);
  if (d.object) where.push(describeObject(d.object));
  const head = `${d.severity}${where.length ? ` ${where.join(', ')}` : ''}`;
  const path = d.path ? `${d.path}: ` : '';
  const lines = [`${head}`, `  ${path}${d.message} [${d.rule}]`];
  if (d.hint) lines.push(`  hint: ${d.hint}`);
  return lines.join('\n');
}

export function hasErrors(ds: readonly Diagnostic[]): boolean {
  return ds.some((d) => d.severity === 'error');
}

/** Thrown when synthesis or validation finds errors; carries every diagnostic, not just the first. */
export class DiagnosticError extends Error {
  constructor(public readonly diagnostics: readonly Diagnostic[], summary?: string) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    super(`${summary ?? `${errors.length} error(s)`}\n${errors.map(formatDiagnostic).join('\n')}`);
    this.name = 'DiagnosticError';
  }
}

/** JSON path segment: `.name` for plain keys, `["app.kubernetes.io/name"]` otherwise, `[0]` for indexes. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (/^[A-Za-z_$][\w$-]*$/.test(key)) return base ? `${base}.${key}` : key;
  return `${base}[${JSON.stringify(key)}]`;
}

/**
 * Helpers the generated L1 classes (dsl/imports) call when they turn their props into JSON;
 * dsl/lossless-imports.mjs rewrites `cdk8s import`'s output to use them.
 *
 * As generated, those functions copy only the fields they know, under their TypeScript names,
 * and read int-or-string fields as `.value` of their wrapper class. Whatever else reached them
 * vanished without a word: a misspelt field, a field written in the CRD's own spelling
 * (`disablePVCReuse` for `disablePvcReuse`), a plain `'80%'` where a wrapper was expected, or
 * anything an `addJsonPatch` added. Here every such value is kept as written, so that it reaches
 * the manifest and the schema validation reports it with its JSON path.
 */

/** Fields of `obj` the generated function does not map itself, skipping undefined ones. */
export function unknownFields(obj: object, known: readonly string[]): Record<string, unknown> {
  let extra: Record<string, unknown> | undefined;
  for (const key of Object.keys(obj)) {
    const value = (obj as Record<string, unknown>)[key];
    if (value === undefined || known.includes(key)) continue;
    (extra ??= {})[key] = value;
  }
  return extra ?? {};
}

/** An int-or-string field: the wrapper's `.value`, or a plain number or string as it is. */
export function unionValue(v: unknown): any {
  if (v !== null && typeof v === 'object' && 'value' in v && Object.keys(v).length === 1) return (v as { value: unknown }).value;
  return v;
}

/** `v.map(f)` for arrays; anything else as it is, for the schema to reject with its path. */
export function mapItems<T>(v: readonly T[] | undefined, f: (item: T) => unknown): any {
  return Array.isArray(v) ? v.map(f) : v;
}

/** True for what a generated function cannot map field by field (a string where an object belongs). */
export function notAnObject(v: unknown): boolean {
  return v === null || typeof v !== 'object' || Array.isArray(v);
}

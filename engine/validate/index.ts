/**
 * Validation of rendered objects: the JSON Schemas (CRDs + Kubernetes definitions) and
 * Kruise's webhook rules (dsl/rules.ts), with each diagnostic tied to its object, construct
 * path and source line.
 */
import type { RenderedObject } from '../../dsl/app.js';
import { objectRef } from '../../dsl/app.js';
import type { Diagnostic } from '../../dsl/diagnostics.js';
import { checkRules } from '../../dsl/rules.js';
import { SchemaValidator } from './schema.js';

export { SchemaValidator, toJsonPath } from './schema.js';

export function validateObject(o: RenderedObject, validator = SchemaValidator.get()): Diagnostic[] {
  const where = { object: objectRef(o.manifest), constructPath: o.constructPath, ...(o.source ? { source: o.source } : {}) };
  const schema = validator.validate(o.manifest);
  // Rules read fields by path; on a schema-broken object they would only repeat its errors.
  const rules = schema.some((d) => d.severity === 'error') ? [] : checkRules(o.manifest);
  return [...schema, ...rules].map((d) => ({ ...d, ...where }));
}

export function validateObjects(objects: readonly RenderedObject[]): Diagnostic[] {
  const validator = SchemaValidator.get();
  const out = objects.flatMap((o) => validateObject(o, validator));
  return [...out, ...duplicates(objects)];
}

/** Two objects with the same apiVersion, kind, namespace and name would overwrite each other. */
function duplicates(objects: readonly RenderedObject[]): Diagnostic[] {
  const seen = new Map<string, RenderedObject>();
  const out: Diagnostic[] = [];
  for (const o of objects) {
    const m = o.manifest;
    const key = `${m.apiVersion?.split('/').slice(0, -1).join('/')}|${m.kind}|${m.metadata?.namespace ?? ''}|${m.metadata?.name}`;
    const first = seen.get(key);
    if (first) {
      out.push({
        severity: 'error', rule: 'synth/duplicate-object', object: objectRef(m), constructPath: o.constructPath,
        message: `the same object is also declared at ${first.constructPath}`,
        hint: 'give one of them another metadata.name',
        ...(o.source ? { source: o.source } : {}),
      });
    } else {
      seen.set(key, o);
    }
  }
  return out;
}

/**
 * Validation of rendered objects: the JSON Schemas (CRDs + Kubernetes definitions) and
 * Kruise's webhook rules (dsl/rules.ts), with each diagnostic tied to its object, construct
 * path and source line.
 */
import type { RenderedObject } from '../../dsl/app.js';
import type { Diagnostic, ObjectRef } from '../../dsl/diagnostics.js';
import { checkRules } from '../../dsl/rules.js';
import { SchemaValidator } from './schema.js';

export { SchemaValidator, toJsonPath } from './schema.js';

/**
 * The object a diagnostic is about (as dsl/app.ts's objectRef, which the CLI does not import:
 * dsl/app.ts loads the constructs, cdk8s-plus and the generated Kruise classes, a good part of
 * kgitops synth's start-up, for a one-liner).
 */
export function objectRef(m: Record<string, any>): ObjectRef {
  return { apiVersion: m.apiVersion, kind: m.kind, name: m.metadata?.name, namespace: m.metadata?.namespace };
}

export function validateObject(o: RenderedObject, validator = SchemaValidator.get()): Diagnostic[] {
  const where = { object: objectRef(o.manifest), constructPath: o.constructPath, ...(o.source ? { source: o.source } : {}) };
  const schema = validator.validate(o.manifest);
  // Rules read fields by path; on a schema-broken object they would only repeat its errors.
  const rules = schema.some((d) => d.severity === 'error') ? [] : checkRules(o.manifest);
  return [...schema, ...rules].map((d) => ({ ...d, ...where }));
}

/**
 * The kinds whose validators are compiled while the app runs, most used first; Kruise's
 * workloads share the Kubernetes pod template, compiled with the first of them.
 */
const LIKELY_KINDS: readonly (readonly [string, string])[] = [
  ['apps.kruise.io/v1alpha1', 'CloneSet'],
  ['apps.kruise.io/v1beta1', 'StatefulSet'],
  ['apps.kruise.io/v1alpha1', 'DaemonSet'],
  ['apps.kruise.io/v1alpha1', 'SidecarSet'],
  ['apps.kruise.io/v1alpha1', 'UnitedDeployment'],
  ['apps.kruise.io/v1alpha1', 'BroadcastJob'],
  ['apps.kruise.io/v1alpha1', 'AdvancedCronJob'],
  ['policy.kruise.io/v1alpha1', 'PodUnavailableBudget'],
  ['v1', 'Service'],
  ['policy/v1', 'PodDisruptionBudget'],
  ['v1', 'Namespace'],
  ['v1', 'ConfigMap'],
  ['apps/v1', 'Deployment'],
];

/**
 * Loads the schemas and compiles the validators of the likely kinds while the engine would
 * otherwise wait (for the app, in its sandbox): one kind per turn of the event loop, so that the
 * app's output is still read as it comes, and none after `until` settles. Validation then starts
 * with its validators ready instead of compiling them first (about a second for a CloneSet).
 */
export function prepareValidation(until: Promise<unknown>): Promise<void> {
  let done = false;
  void until.then(() => { done = true; }, () => { done = true; });
  return new Promise((resolve) => {
    let next = 0;
    const step = () => {
      if (done || next >= LIKELY_KINDS.length) return resolve();
      const [apiVersion, kind] = LIKELY_KINDS[next++];
      try {
        SchemaValidator.get().prepare(apiVersion, kind);
      } catch {
        // Validation compiles it again when an object needs it, and reports what fails then.
        return resolve();
      }
      setImmediate(step);
    };
    setImmediate(step);
  });
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

/**
 * Synth compiles schema validators while the app runs (prepareValidation): it compiles the likely
 * kinds one per event-loop turn, stops once the app is done, and changes no result.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { prepareValidation, SchemaValidator, validateObjects } from '../../../engine/validate/index.js';

afterEach(() => { vi.restoreAllMocks(); });

const cloneSet = (name: string, extra: Record<string, unknown> = {}) => ({
  manifest: {
    apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name, namespace: 'web' },
    spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'nginx:1.27.1' }] } }, ...extra },
  },
  chart: 'web', constructPath: `web/${name}`,
});

describe('prepareValidation', () => {
  it('compiles the Kruise workloads first, then the common core kinds, while the app runs', async () => {
    const prepare = vi.spyOn(SchemaValidator.prototype, 'prepare');
    await prepareValidation(new Promise(() => {}));
    const kinds = prepare.mock.calls.map(([apiVersion, kind]) => `${apiVersion}/${kind}`);
    expect(kinds.slice(0, 2)).toEqual(['apps.kruise.io/v1alpha1/CloneSet', 'apps.kruise.io/v1beta1/StatefulSet']);
    expect(kinds).toContain('v1/Service');
    // Every kind in the list has a schema: none is a typo that silently compiles nothing.
    expect(prepare.mock.results.every((r) => r.value === true)).toBe(true);
  });

  it('compiles nothing more once the app is done', async () => {
    const prepare = vi.spyOn(SchemaValidator.prototype, 'prepare');
    await prepareValidation(Promise.resolve());
    expect(prepare).not.toHaveBeenCalled();
    let finish!: () => void;
    const app = new Promise<void>((resolve) => { finish = resolve; });
    const prepared = prepareValidation(app);
    await new Promise((resolve) => setImmediate(resolve));
    finish();
    await prepared;
    expect(prepare.mock.calls.length).toBeGreaterThan(0);
    expect(prepare.mock.calls.length).toBeLessThan(4);
  });

  it('leaves the validation results as they are', async () => {
    const objects = [cloneSet('ok'), cloneSet('bad', { replica: 3 })];
    await prepareValidation(new Promise(() => {}));
    const ds = validateObjects(objects);
    expect(ds).toHaveLength(1);
    expect(ds[0]).toMatchObject({ severity: 'error', rule: 'schema/unknown-field', path: 'spec.replica', constructPath: 'web/bad', object: { kind: 'CloneSet', name: 'bad', namespace: 'web' } });
  });
});

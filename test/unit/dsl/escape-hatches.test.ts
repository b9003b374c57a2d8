/**
 * Escape hatches reach the manifest or fail naming the path: `addJsonPatch` on the L2
 * constructs, the generated L1 classes and raw ApiObjects, and plain values in L1 props. What
 * reaches the manifest and is wrong (a misspelt field) is then an error of the schema validation,
 * with its JSON path and the line of the user's `new`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ApiObject, Chart, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { describe, expect, it } from 'vitest';
import {
  AdvancedStatefulSet, App, type App as AppType, CloneSet, CloneSetUpdateStrategy, kruise, kruisePolicy, SidecarSet,
} from '../../../dsl/index.js';
import { validateObjects } from '../../../engine/validate/index.js';
// @ts-expect-error: a plain ES module without types, run by the generator
import { rewrite } from '../../../dsl/lossless-imports.mjs';

/**
 * Source lines here are this file's: under vitest, stack positions are those of its transformed
 * file, which Node has no source map for. `kgitops synth` runs the app with tsx, whose lines map
 * to the user's own; test/unit/engine/synth-cli.test.ts checks those line by line.
 */
const IN_THIS_FILE = /^test\/unit\/dsl\/escape-hatches\.test\.ts:\d+:\d+$/;

const container = { name: 'web', image: 'registry.example.com/web:1.0.0' };

function render(build: (chart: Chart) => void, app: AppType = new App({ acceptCdk8sPlusDefaults: true })) {
  build(new Chart(app, 'shop', { namespace: 'shop' }));
  const result = app.render();
  const byName = (name: string) => result.objects.find((o) => o.manifest.metadata.name === name)!;
  return { ...result, byName, validation: validateObjects(result.objects) };
}

describe('addJsonPatch on an L2 construct', () => {
  it('keeps a misspelt field, for the schema to reject with its JSON path and the declaring line', () => {
    const r = render((chart) => {
      const cs = new CloneSet(chart, 'web', { metadata: { name: 'web' }, containers: [container] });
      cs.apiObject.addJsonPatch(JsonPatch.add('/spec/updateStrategy/maxSurgee', '20%'));
    });
    expect(r.byName('web').manifest.spec.updateStrategy).toEqual({ type: 'ReCreate', maxSurgee: '20%' });
    expect(r.validation).toEqual([expect.objectContaining({
      severity: 'error', rule: 'schema/unknown-field', path: 'spec.updateStrategy.maxSurgee', message: 'unknown field "maxSurgee"',
      constructPath: 'shop/web', source: expect.stringMatching(IN_THIS_FILE),
    })]);
  });

  it('patches the manifest in its own field names and plain values', () => {
    const r = render((chart) => {
      const cs = new CloneSet(chart, 'web', {
        metadata: { name: 'web' }, containers: [container],
        updateStrategy: CloneSetUpdateStrategy.inPlaceIfPossible({ maxSurge: '10%' }),
        scaleStrategy: { disablePvcReuse: true, podsToDelete: ['web-1'] },
      });
      // The CRD's spelling of a field the L1 class calls disablePvcReuse, and an int-or-string as a plain value.
      cs.apiObject.addJsonPatch(
        JsonPatch.replace('/spec/updateStrategy/maxSurge', 2),
        JsonPatch.remove('/spec/scaleStrategy/disablePVCReuse'),
        JsonPatch.add('/spec/updateStrategy/maxUnavailable', '50%'),
      );
      ApiObject.of(cs).addJsonPatch(JsonPatch.add('/spec/scaleStrategy/maxUnavailable', 3));
    });
    const spec = r.byName('web').manifest.spec;
    expect(spec.updateStrategy).toEqual({ type: 'InPlaceIfPossible', maxSurge: 2, maxUnavailable: '50%' });
    expect(spec.scaleStrategy).toEqual({ podsToDelete: ['web-1'], maxUnavailable: 3 });
    expect(r.diagnostics).toEqual([]);
    expect(r.validation).toEqual([]);
  });

  it('adds a field in the CRD spelling that the construct does not set', () => {
    const r = render((chart) => {
      const sts = new AdvancedStatefulSet(chart, 'db', { metadata: { name: 'db' }, containers: [container] });
      sts.addJsonPatch(JsonPatch.add('/spec/scaleStrategy', { maxUnavailable: 1 }), JsonPatch.add('/spec/reserveOrdinals', [1]));
    });
    expect(r.byName('db').manifest.spec).toMatchObject({ scaleStrategy: { maxUnavailable: 1 }, reserveOrdinals: [1] });
    expect(r.validation).toEqual([]);
  });

  it('fails a patch that cannot apply with the path it names, and writes nothing of that object', () => {
    const r = render((chart) => {
      const cs = new CloneSet(chart, 'web', { metadata: { name: 'web' }, containers: [container] });
      cs.apiObject.addJsonPatch(JsonPatch.replace('/spec/scaleStrategy/disablePVCReuse', true));
    });
    expect(r.objects.filter((o) => o.manifest.kind === 'CloneSet')).toEqual([]);
    expect(r.diagnostics).toEqual([{
      severity: 'error', rule: 'construct/json-patch', path: 'spec.scaleStrategy.disablePVCReuse',
      object: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web', namespace: 'shop' },
      message: 'JSON patch replace /spec/scaleStrategy/disablePVCReuse cannot be applied: spec.scaleStrategy.disablePVCReuse does not exist in the manifest',
      hint: expect.stringContaining('`add` creates a field (its parent must exist)'),
      constructPath: 'shop/web', source: expect.stringMatching(IN_THIS_FILE),
    }]);
  });

  it('names the missing parent of an add', () => {
    const r = render((chart) => {
      const cs = new CloneSet(chart, 'web', { metadata: { name: 'web' }, containers: [container] });
      cs.apiObject.addJsonPatch(JsonPatch.add('/spec/lifecycle/preDelete', { markPodNotReady: true }));
    });
    expect(r.diagnostics.map((d) => d.message)).toEqual([
      'JSON patch add /spec/lifecycle/preDelete cannot be applied: spec.lifecycle does not exist in the manifest',
    ]);
  });

  it('patches a SidecarSet (a raw ApiObject inside) the same way', () => {
    const r = render((chart) => {
      const sc = new SidecarSet(chart, 'logs', {
        metadata: { name: 'logs' }, selector: { matchLabels: { app: 'web' } }, containers: [{ ...container, name: 'shipper' }],
      });
      sc.addJsonPatch(JsonPatch.add('/spec/containers/0/podInjectPolicyy', 'AfterAppContainer'));
    });
    expect(r.validation).toEqual([expect.objectContaining({ rule: 'schema/unknown-field', path: 'spec.containers[0].podInjectPolicyy' })]);
  });
});

describe('the generated L1 classes', () => {
  it('keep plain values of int-or-string fields: a PodUnavailableBudget keeps its budget', () => {
    const r = render((chart) => {
      new kruisePolicy.PodUnavailableBudget(chart, 'budget', {
        metadata: { name: 'web' },
        // What a JavaScript caller or a cast writes instead of PodUnavailableBudgetSpecMinAvailable.fromString.
        spec: { minAvailable: '80%' as never, targetRef: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web' } },
      });
    });
    expect(r.byName('web').manifest.spec.minAvailable).toBe('80%');
    expect(r.validation).toEqual([]);
  });

  it('and a PodUnavailableBudget without a budget, or without pods to cover, is an error', () => {
    const r = render((chart) => {
      new kruisePolicy.PodUnavailableBudget(chart, 'none', { metadata: { name: 'none' }, spec: {} });
      new kruisePolicy.PodUnavailableBudget(chart, 'both', {
        metadata: { name: 'both' },
        spec: {
          selector: { matchLabels: { app: 'web' } },
          minAvailable: kruisePolicy.PodUnavailableBudgetSpecMinAvailable.fromString('80%'),
          maxUnavailable: kruisePolicy.PodUnavailableBudgetSpecMaxUnavailable.fromString('120%'),
        },
      });
    });
    expect(r.validation.map((d) => `${d.object!.name} ${d.path} [${d.rule}]`)).toEqual([
      'none spec [pub/no-target]', 'none spec [pub/no-budget]', 'both spec.minAvailable [pub/two-budgets]', 'both spec.maxUnavailable [pub/budget]',
    ]);
  });

  it('still render the wrapper classes and the L1 spelling of renamed fields', () => {
    const r = render((chart) => {
      new kruise.CloneSet(chart, 'l1', {
        metadata: { name: 'l1' },
        spec: {
          selector: { matchLabels: { app: 'l1' } },
          template: { metadata: { labels: { app: 'l1' } }, spec: { containers: [container] } },
          updateStrategy: { maxSurge: kruise.CloneSetSpecUpdateStrategyMaxSurge.fromNumber(1) },
          scaleStrategy: { disablePvcReuse: true },
        },
      });
    });
    expect(r.byName('l1').manifest.spec).toMatchObject({ updateStrategy: { maxSurge: 1 }, scaleStrategy: { disablePVCReuse: true } });
    expect(r.validation).toEqual([]);
  });

  it('keep unknown fields and values of the wrong shape, which the schema reports at the line of the new', () => {
    const r = render((chart) => {
      new kruise.CloneSet(chart, 'l1', {
        metadata: { name: 'l1' },
        spec: {
          selector: { matchLabels: { app: 'l1' } },
          template: { metadata: { labels: { app: 'l1' } }, spec: { containers: [container] } },
          replicas: '3' as never,
          updateStrategy: 'InPlaceOnly' as never,
          scaleStrategy: { disablePVCReuse: true } as never,
          minReadySecond: 5,
        } as never,
      });
    });
    expect(r.byName('l1').manifest.spec).toMatchObject({ replicas: '3', updateStrategy: 'InPlaceOnly', scaleStrategy: { disablePVCReuse: true }, minReadySecond: 5 });
    const where = { constructPath: 'shop/l1', source: expect.stringMatching(IN_THIS_FILE) };
    expect(r.validation).toEqual(expect.arrayContaining([
      expect.objectContaining({ rule: 'schema/unknown-field', path: 'spec.minReadySecond', ...where }),
      expect.objectContaining({ rule: 'schema/type', path: 'spec.replicas', message: 'must be an integer, got string "3"', ...where }),
      expect.objectContaining({ rule: 'schema/type', path: 'spec.updateStrategy', message: 'must be an object, got string "InPlaceOnly"', ...where }),
    ]));
    expect(r.validation).toHaveLength(3);
  });

  it('show the value the schema rejects, for enums too', () => {
    const r = render((chart) => {
      new kruise.AdvancedCronJob(chart, 'cron', {
        metadata: { name: 'cron' },
        spec: {
          schedule: '0 3 * * *', concurrencyPolicy: 'Never' as never, paused: 'yes' as never,
          template: { broadcastJobTemplate: { spec: { template: { spec: { containers: [container], restartPolicy: 'Never' } } } } },
        },
      });
    });
    expect(r.validation.map((d) => `${d.path}: ${d.message}`)).toEqual([
      'spec.concurrencyPolicy: must be one of "Allow", "Forbid", "Replace", got "Never"',
      'spec.paused: must be a boolean, got string "yes"',
    ]);
  });

  it('apply JSON patches to the manifest: the CRD spelling, plain values, unknown fields', () => {
    const r = render((chart) => {
      const l1 = new kruise.CloneSet(chart, 'l1', {
        metadata: { name: 'l1' },
        spec: { selector: { matchLabels: { app: 'l1' } }, template: { metadata: { labels: { app: 'l1' } }, spec: { containers: [container] } } },
      });
      l1.addJsonPatch(
        JsonPatch.add('/spec/scaleStrategy', { disablePVCReuse: true }),
        JsonPatch.add('/spec/updateStrategy', { partition: '50%' }),
        JsonPatch.add('/spec/updateStrategy/maxSurgee', 1),
      );
    });
    expect(r.byName('l1').manifest.spec).toMatchObject({ scaleStrategy: { disablePVCReuse: true }, updateStrategy: { partition: '50%', maxSurgee: 1 } });
    expect(r.validation).toEqual([expect.objectContaining({ rule: 'schema/unknown-field', path: 'spec.updateStrategy.maxSurgee' })]);
  });

  it('are the rewritten ones, and the rewrite is idempotent', () => {
    const generated = readFileSync(fileURLToPath(new URL('../../../dsl/imports/apps.kruise.io.ts', import.meta.url)), 'utf8');
    expect(generated).toContain('// lossless: dsl/lossless-imports.mjs');
    expect(generated).not.toMatch(/obj\.\w+\?\.value/);
    expect(rewrite(generated)).toBe(generated);
  });

  it('rewrite a generated function to keep what it does not know', () => {
    const before = [
      "import { Construct } from 'constructs';",
      'export function toJson_X(obj: X | undefined): Record<string, any> | undefined {',
      '  if (obj === undefined) { return undefined; }',
      '  const result = {',
      "    'disablePVCReuse': obj.disablePvcReuse,",
      "    'maxSurge': obj.maxSurge?.value,",
      "    'items': obj.items?.map(y => toJson_Y(y)),",
      '  };',
      '  return result;',
      '}',
    ].join('\n');
    expect(rewrite(before)).toBe([
      "import { Construct } from 'constructs';",
      "import { mapItems, notAnObject, unionValue, unknownFields } from '../l1-json.js';",
      '// lossless: dsl/lossless-imports.mjs',
      'export function toJson_X(obj: X | undefined): Record<string, any> | undefined {',
      '  if (obj === undefined) { return undefined; }',
      '  if (notAnObject(obj)) { return obj as any; }',
      '  const result = {',
      "    'disablePVCReuse': obj.disablePvcReuse,",
      "    'maxSurge': unionValue(obj.maxSurge),",
      "    'items': mapItems(obj.items, y => toJson_Y(y)),",
      "    ...unknownFields(obj, ['disablePvcReuse', 'maxSurge', 'items']),",
      '  };',
      '  return result;',
      '}',
    ].join('\n'));
  });
});

describe('raw cdk8s ApiObjects and cdk8s-plus constructs', () => {
  it('carry the line of their new, and their patches apply', () => {
    const r = render((chart) => {
      const cm = new ApiObject(chart, 'flags', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'flags' }, data: { a: 'x' } });
      cm.addJsonPatch(JsonPatch.add('/data/b', 2), JsonPatch.add('/dataa', {}));
      new kplus.Service(chart, 'svc', { metadata: { name: 'svc' }, ports: [{ port: 80 }] });
      const web = new CloneSet(chart, 'web', { metadata: { name: 'web' }, containers: [{ ...container, portNumber: 8080 }] });
      web.exposeViaService({ name: 'web' });
    });
    const sources = ['flags', 'svc', 'web'].map((name) => r.byName(name).source);
    const exposed = r.objects.find((o) => o.manifest.kind === 'Service' && o.manifest.metadata.name === 'web')!.source;
    for (const s of [...sources, exposed]) expect(s).toMatch(IN_THIS_FILE);
    // The Service of exposeViaService has the line of that call, not the CloneSet's.
    expect(new Set([...sources, exposed].map((s) => s!.replace(/:\d+$/, ''))).size).toBe(4);
    expect(r.byName('flags').manifest).toMatchObject({ data: { a: 'x', b: 2 }, dataa: {} });
    expect(r.validation).toEqual([
      expect.objectContaining({ rule: 'schema/unknown-field', path: 'dataa', source: expect.stringMatching(IN_THIS_FILE) }),
      expect.objectContaining({ rule: 'schema/type', path: 'data.b', message: 'must be a string, got number 2', source: expect.stringMatching(IN_THIS_FILE) }),
    ]);
  });

  it('report a prop of the wrong type at the line of the construct, without cdk8s\'s wrapper', () => {
    const r = render((chart) => {
      new CloneSet(chart, 'web', { metadata: { name: 'web' }, containers: [container], minReady: 10 as never });
    });
    expect(r.diagnostics).toEqual([expect.objectContaining({
      severity: 'error', rule: 'construct/render', constructPath: 'shop/web', source: expect.stringMatching(IN_THIS_FILE),
      message: 'cannot render CloneSet web: d.toSeconds is not a function',
      hint: expect.stringContaining('wrong type'),
    })]);
  });
});

describe('cdk8s-plus defaults', () => {
  it('warn once, on the first workload that gets one, listing them and how to opt out', () => {
    const r = render((chart) => {
      new CloneSet(chart, 'web', { metadata: { name: 'web' }, containers: [{ ...container, portNumber: 8080 }] });
      new AdvancedStatefulSet(chart, 'db', { metadata: { name: 'db' }, containers: [container] });
      new CloneSet(chart, 'api', { metadata: { name: 'api' }, containers: [container] });
    }, new App());
    const warnings = r.diagnostics.filter((d) => d.rule === 'dsl/cdk8s-plus-defaults');
    expect(warnings).toHaveLength(1);
    const [w] = warnings;
    expect(w).toMatchObject({
      severity: 'warning', constructPath: 'shop/web', source: expect.stringMatching(IN_THIS_FILE),
      object: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web', namespace: 'shop' },
    });
    expect(w.message).toMatch(/^cdk8s-plus gives this workload defaults that Kubernetes does not: container "web": requests cpu 1000m, memory 512Mi, limits cpu 1500m, memory 2048Mi, runAsNonRoot \(an image that runs as root does not start\), a read-only root filesystem, imagePullPolicy Always \(Kubernetes: IfNotPresent for a tagged image\), a TCP startup probe on port 8080; the pods: runAsNonRoot, no service-account token; the selector: cdk8s\.io\/metadata\.addr=shop-web-[0-9a-f]{8}, from the construct path/);
    expect(w.message).toMatch(/; 2 more workloads get some of them too \(this warning is shown once\)$/);
    for (const optOut of ['`resources: {}` for none', '`securityContext: { ensureNonRoot: false }` on the container', 'readOnlyRootFilesystem: false',
      '`automountServiceAccountToken: true` on the workload', '`select: false`', '`new App({ acceptCdk8sPlusDefaults: true })`']) {
      expect(w.hint).toContain(optOut);
    }
    // What the rendered pods actually get, so the warning says the truth.
    const pod = r.byName('web').manifest.spec.template.spec;
    expect(pod).toMatchObject({ automountServiceAccountToken: false, securityContext: { runAsNonRoot: true } });
    expect(pod.containers[0]).toMatchObject({
      imagePullPolicy: 'Always', startupProbe: { tcpSocket: { port: 8080 } },
      resources: { requests: { cpu: '1000m', memory: '512Mi' }, limits: { cpu: '1500m', memory: '2048Mi' } },
      securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true },
    });
  });

  it('say nothing about what the workload sets itself, and nothing when every default is set', () => {
    const explicit = {
      ...container,
      resources: {},
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      securityContext: { ensureNonRoot: true, readOnlyRootFilesystem: false },
    };
    const r = render((chart) => {
      new CloneSet(chart, 'web', {
        metadata: { name: 'web' }, containers: [explicit], podMetadata: { labels: { app: 'web' } },
        securityContext: { ensureNonRoot: false }, automountServiceAccountToken: true, select: false,
      }).select(kplus.LabelSelector.of({ labels: { app: 'web' } }));
      const partly = new CloneSet(chart, 'api', { metadata: { name: 'api' }, containers: [explicit], automountServiceAccountToken: true });
      partly.addInitContainer({ name: 'init', image: 'registry.example.com/init:1.0.0', resources: {} });
    }, new App());
    const warnings = r.diagnostics.filter((d) => d.rule === 'dsl/cdk8s-plus-defaults');
    expect(warnings).toHaveLength(1);
    expect(warnings[0].constructPath).toBe('shop/api');
    expect(warnings[0].message).toMatch(/does not: container "init": runAsNonRoot \(an image that runs as root does not start\), a read-only root filesystem, imagePullPolicy Always \(Kubernetes: IfNotPresent for a tagged image\); the pods: runAsNonRoot; the selector: cdk8s\.io\/metadata\.addr=shop-api-[0-9a-f]{8}, from the construct path \(renaming or moving the construct changes the selector, and with it which pods the workload owns\)$/);
    expect(r.byName('web').manifest.spec.selector).toEqual({ matchLabels: { app: 'web' } });
  });

  it('are accepted without a warning with acceptCdk8sPlusDefaults', () => {
    const r = render((chart) => { new CloneSet(chart, 'web', { containers: [container] }); }, new App({ acceptCdk8sPlusDefaults: true }));
    expect(r.diagnostics).toEqual([]);
  });

  it('warn for the sidecar containers of a SidecarSet too', () => {
    const r = render((chart) => {
      new SidecarSet(chart, 'logs', { metadata: { name: 'logs' }, selector: { matchLabels: { app: 'web' } }, containers: [{ ...container, name: 'shipper' }] });
    }, new App());
    expect(r.diagnostics).toEqual([expect.objectContaining({
      rule: 'dsl/cdk8s-plus-defaults', constructPath: 'shop/logs',
      message: expect.stringMatching(/does not: container "shipper": requests cpu 1000m, memory 512Mi, limits cpu 1500m, memory 2048Mi, runAsNonRoot/),
    })]);
  });
});

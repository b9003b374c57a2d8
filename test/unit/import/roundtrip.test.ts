/**
 * `kgitops import` round trip: every valid Kruise sample (the project's copy of
 * ../shared/kruise/samples), every object of the examples and one object of every Kruise kind
 * beyond the workloads is imported; the TypeScript written type-checks (strict), and
 * synthesizing it gives back the input: the same fields and values, apart from the few fields a
 * construct always writes with the value Kruise's webhook would default anyway (a CloneSet's
 * replicas: 1, ...).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Chart } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { App } from '../../../dsl/index.js';
import { importManifests, patchOps } from '../../../engine/import/index.js';
import { readManifests } from '../../../engine/validate/files.js';
import { PlatformChart } from '../../../examples/lib/platform.js';
import { ShopChart } from '../../../examples/lib/shop.js';
import { renderFeatures } from '../../fixtures/features.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
// Inside the checkout, so that 'kruise-gitops', cdk8s and cdk8s-plus resolve as in a user's repo.
const OUT = `${ROOT}.cache/import-roundtrip/`;
const SAMPLES = `${ROOT}test/fixtures/kruise-samples/`;

/** The samples that are real objects (the others are placeholders, rejected by samples.test.ts). */
const VALID_SAMPLES = [
  'apps_v1alpha1_broadcastjob-active-deadline.yaml', 'apps_v1alpha1_broadcastjob-never-complete.yaml', 'apps_v1alpha1_broadcastjob-ttl.yaml',
  'apps_v1alpha1_cloneset.yaml', 'apps_v1alpha1_statefulset.yaml', 'apps_v1alpha1_uniteddeployment.yaml', 'apps_v1alpha1_workloadspread.yaml',
  'apps_v1beta1_broadcastjob-active-deadline.yaml', 'apps_v1beta1_broadcastjob-never-complete.yaml', 'apps_v1beta1_broadcastjob-ttl.yaml',
];

function examples(): Record<string, unknown>[] {
  const app = new App({ acceptCdk8sPlusDefaults: true });
  new ShopChart(app, 'shop', { namespace: 'shop' });
  new PlatformChart(app, 'platform', { namespace: 'platform' });
  return app.render().objects.map((o) => o.manifest);
}

interface Case { name: string; objects: Record<string, any>[] }

const cases: Case[] = [
  ...VALID_SAMPLES.map((f) => ({ name: f.replace(/\.yaml$/, ''), objects: readManifests(readFileSync(`${SAMPLES}${f}`, 'utf8'), f).objects.map((o) => o.manifest) })),
  { name: 'examples', objects: examples() },
  { name: 'features', objects: renderFeatures('team').objects.map((o) => o.manifest) },
];

const className = (name: string) => `Imported${name.replace(/(^|[^A-Za-z0-9])([a-z0-9])/g, (_m, _s, c: string) => c.toUpperCase()).replace(/[^A-Za-z0-9]/g, '')}`;
const written = new Map<string, { file: string; result: ReturnType<typeof importManifests> }>();

describe('kgitops import round trip', () => {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  for (const c of cases) {
    const result = importManifests(c.objects.map((manifest, i) => ({ manifest, source: `${c.name}.yaml:${i + 1}` })), { className: className(c.name), files: [`${c.name}.yaml`] });
    const file = `${OUT}${c.name}.ts`;
    writeFileSync(file, result.code);
    written.set(c.name, { file, result });
  }

  it.each(cases)('$name: synthesizing the imported code gives back every object', async (c) => {
    const { file, result } = written.get(c.name)!;
    const mod = await import(file) as Record<string, new (scope: App, id: string) => Chart>;
    const app = new App({ acceptCdk8sPlusDefaults: true });
    new mod[className(c.name)]!(app, 'imported');
    const back = app.render({ rules: false }).objects.map((o) => o.manifest);
    expect(back).toHaveLength(c.objects.length);
    c.objects.forEach((input, i) => {
      expect(patchOps(input.kind, back[i], input), `${input.kind} ${input.metadata?.name}`).toEqual([]);
    });
    // Every Kruise object with a construct is written with it, not as an ApiObject.
    const asApiObjects = result.objects.filter((o) => o.construct === 'ApiObject' && /kruise\.io\//.test(c.objects.find((m) => m.metadata?.name === o.name && m.kind === o.kind)?.apiVersion ?? ''));
    expect(asApiObjects).toEqual([]);
  });

  it('writes idiomatic code: factories, Durations, int-or-percent, and says what it kept as written', () => {
    const code = written.get('examples')!.result.code;
    expect(code).toContain("CloneSetUpdateStrategy.inPlaceIfPossible({");
    expect(code).toMatch(/Duration\.(seconds|minutes|hours)\(\d+\)/);
    expect(code).toMatch(/storefront\.select\(kplus\.LabelSelector\.of\(\{ labels: \{/);
    expect(code).toContain('// The pod template as written: cdk8s-plus containers would add their defaults and restart every pod once.');
    expect(code).not.toMatch(/kruise\.(CloneSet|StatefulSet)\b/);
    const features = written.get('features')!.result.code;
    expect(features).toContain('PullNodes.runningPods({ matchLabels: { app: \'web\' } })');
    expect(features).toContain('MarkerProbe.exec([\'/bin/is-primary\'], { period: Duration.seconds(10) })');
    expect(features).toContain('ProtectedOperation.DELETE');
  });

  it('type-checks (strict)', () => {
    writeFileSync(`${OUT}tsconfig.json`, JSON.stringify({ extends: '../../tsconfig.json', include: ['*.ts'] }));
    let output = '';
    try {
      execFileSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-p', `${OUT}tsconfig.json`, '--noEmit'], { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      output = `${(e as { stdout?: string }).stdout ?? ''}${(e as { stderr?: string }).stderr ?? ''}`;
    }
    expect(output).toBe('');
  }, 120_000);
});

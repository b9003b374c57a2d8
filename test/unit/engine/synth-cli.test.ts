/**
 * `kgitops synth` end to end, as a user runs it: a child process per run, real cdk8s apps.
 * Each bad input must say what is wrong and where, exit 1 and write nothing.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
// Inside the package, so that `import ... from 'kruise-gitops'` resolves as in a user repo.
const WORK = join(ROOT, '.cache', `test-apps-${process.pid}`);

afterAll(() => rmSync(WORK, { recursive: true, force: true }));

interface Run { code: number; stdout: string; stderr: string }

function kgitops(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), ...args], { cwd: ROOT, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Writes a cdk8s app (main.ts + cdk8s.yaml) and returns its directory. */
function app(name: string, main: string, cdk8sYaml = 'app: npx tsx main.ts\n'): string {
  const dir = join(WORK, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cdk8s.yaml'), cdk8sYaml);
  writeFileSync(join(dir, 'main.ts'), main);
  return dir;
}

const HEADER = `import { Chart } from 'cdk8s';
import { App, CloneSet, CloneSetUpdateStrategy } from 'kruise-gitops';
const app = new App();
const chart = new Chart(app, 'web', { namespace: 'web' });
`;

describe('kgitops synth', () => {
  it('synthesizes the examples: all kinds, valid, written to dist/', async () => {
    const r = await kgitops(['synth', 'examples']);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^13 objects in 2 chart\(s\): AdvancedCronJob 1, BroadcastJob 1, CloneSet 1, DaemonSet 1, Namespace 2, PodDisruptionBudget 1, PodUnavailableBudget 1, Service 2, SidecarSet 1, StatefulSet 1, UnitedDeployment 1$/m);
    expect(r.stdout).toContain('wrote examples/dist/shop.k8s.yaml (8 objects)');
    const docs = parseAllDocuments(readFileSync(join(ROOT, 'examples/dist/platform.k8s.yaml'), 'utf8')).map((d) => d.toJS());
    expect(docs.map((d) => d.kind)).toEqual(['Namespace', 'SidecarSet', 'DaemonSet', 'BroadcastJob', 'AdvancedCronJob']);
  });

  it('prints a machine-readable summary with --output json', async () => {
    const r = await kgitops(['synth', 'examples', '--no-write', '-o', 'json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ ok: true, files: [], summary: { objects: 13, errors: 0, warnings: 0, byChart: { shop: 8, platform: 5 } } });
    // The examples' own policies/ ran: the built-in pack (sidecar registries configured) and app-label.
    expect(out.policies).toEqual(['images-pinned', 'resources', 'max-unavailable', 'release-gated', 'sidecar-registries', 'disruption-budget', 'in-place-only-images', 'app-label']);
  });

  it('reports a TypeScript syntax error with file and line, exit 1, nothing written', async () => {
    const dir = app('syntax', `${HEADER}new CloneSet(chart, 'web', { containers: [{ image: 'x:1' }] ;\napp.synth();\n`);
    const r = await kgitops(['synth', dir]);
    expect(r.code).toBe(1);
    // The type check sees it first; without the check, running the app reports it.
    expect(r.stderr).toMatch(/main\.ts:5:\d+\n.*'[,}]' expected\. \(TS1005\) \[synth\/type-error\]/);
    expect(r.stdout).toContain('invalid: nothing written');
    expect(existsSync(join(dir, 'dist'))).toBe(false);
    const unchecked = await kgitops(['synth', dir, '--no-typecheck']);
    expect(unchecked.code).toBe(1);
    expect(unchecked.stderr).toMatch(/main\.ts:5:\d+/);
    expect(unchecked.stderr).toContain('[synth/app-failed]');
    expect(existsSync(join(dir, 'dist'))).toBe(false);
  });

  // Misspelt props: tsx strips types, so only the type check stops these.
  for (const [name, props, typo, type, suggestion] of [
    ['replica', "{ replica: 4, containers: [{ image: 'registry.example.com/web:1.0.0' }] }", 'replica', 'CloneSetProps', 'replicas'],
    ['podMetdata', "{ podMetdata: { labels: { app: 'web' } }, containers: [{ image: 'registry.example.com/web:1.0.0' }] }", 'podMetdata', 'CloneSetProps', 'podMetadata'],
  ]) {
    it(`fails a misspelt prop (${name}) with main.ts:line:col, exit 1, the app not run; --no-typecheck passes it through`, async () => {
      const line = `new CloneSet(chart, 'web', ${props});`;
      const dir = app(`typo-${name}`, `${HEADER}${line}\napp.synth();\n`);
      const r = await kgitops(['synth', dir]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`error ${relative(ROOT, join(dir, 'main.ts'))}:5:${line.indexOf(typo) + 1}\n`);
      expect(r.stderr).toContain(`Object literal may only specify known properties, but '${typo}' does not exist in type '${type}'. Did you mean to write '${suggestion}'? (TS2561) [synth/type-error]`);
      expect(r.stderr).toContain('hint: kgitops type-checks the app before running it');
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(r.stdout).toContain('0 objects in 0 chart(s)');
      expect(r.stdout).toContain('invalid: nothing written');
      expect(existsSync(join(dir, 'dist'))).toBe(false);

      const json = JSON.parse((await kgitops(['synth', dir, '--no-write', '-o', 'json'])).stdout);
      expect(json.diagnostics.map((d: any) => `${d.rule} ${d.source}`)).toEqual([`synth/type-error ${relative(ROOT, join(dir, 'main.ts'))}:5:${line.indexOf(typo) + 1}`]);

      // Unchecked, the typo is silently dropped, as before: the CloneSet renders with its defaults.
      const unchecked = await kgitops(['synth', dir, '--no-typecheck']);
      expect(unchecked.code).toBe(0);
      expect(unchecked.stderr).not.toContain('synth/type-error');
      expect(existsSync(join(dir, 'dist/web.k8s.yaml'))).toBe(true);
    });
  }

  it('reports a Kruise rule with the construct path and the declaring line', async () => {
    const dir = app('rule', `${HEADER}
new CloneSet(chart, 'storefront', {
  containers: [{ image: 'registry.example.com/web:1' }],
  updateStrategy: CloneSetUpdateStrategy.inPlaceOnly({ maxSurge: '10%' } as never),
});
app.synth();
`);
    const r = await kgitops(['synth', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('main.ts:6:1, construct web/storefront, CloneSet web/web-storefront-');
    expect(r.stderr).toContain('spec.updateStrategy.maxSurge: maxSurge must be 0 with update type InPlaceOnly, got "10%" [cloneset/in-place-only-max-surge]');
    expect(existsSync(join(dir, 'dist'))).toBe(false);
  });

  it('reports a schema violation introduced through an escape hatch, with its JSON path', async () => {
    const dir = app('schema', `${HEADER}import { JsonPatch } from 'cdk8s';
const cs = new CloneSet(chart, 'storefront', { metadata: { name: 'storefront' }, containers: [{ image: 'registry.example.com/web:1' }] });
cs.apiObject.addJsonPatch(JsonPatch.add('/spec/template/spec/containers/0/imagePullPolicyy', 'Always'));
app.synth();
`);
    const r = await kgitops(['synth', dir, '-o', 'json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.diagnostics).toContainEqual(expect.objectContaining({
      rule: 'schema/unknown-field', path: 'spec.template.spec.containers[0].imagePullPolicyy', message: 'unknown field "imagePullPolicyy"',
      constructPath: 'web/storefront', object: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'storefront', namespace: 'web' },
    }));
  });

  it('keeps what escape hatches write: each error names the JSON path and the line of the new in main.ts', async () => {
    const dir = app('escape', `${HEADER}import { ApiObject, JsonPatch } from 'cdk8s';
import { kruise, kruisePolicy } from 'kruise-gitops';
const cs = new CloneSet(chart, 'storefront', { metadata: { name: 'storefront' }, containers: [{ image: 'registry.example.com/web:1.0.0' }] });
cs.apiObject.addJsonPatch(JsonPatch.add('/spec/updateStrategy/maxSurgee', '20%'));
new kruise.CloneSet(chart, 'l1', {
  metadata: { name: 'l1' },
  spec: { selector: { matchLabels: { app: 'l1' } }, template: { metadata: { labels: { app: 'l1' } }, spec: { containers: [{ name: 'c', image: 'registry.example.com/l1:1.0.0' }] } }, replicas: '2' },
} as any);
new ApiObject(chart, 'flags', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'flags' }, data: { on: true } });
new kruisePolicy.PodUnavailableBudget(chart, 'budget', { metadata: { name: 'budget' }, spec: { minAvailable: '80%' as any, selector: { matchLabels: { app: 'l1' } } } });
app.synth();
`);
    const r = await kgitops(['synth', dir, '-o', 'json']);
    expect(r.code).toBe(1);
    const errors = JSON.parse(r.stdout).diagnostics.filter((d: any) => d.severity === 'error')
      .map((d: any) => `${d.source?.replace(/^.*\/escape\//, '')} ${d.constructPath} ${d.path}: ${d.message} [${d.rule}]`);
    expect(errors).toEqual([
      'main.ts:7:12 web/storefront spec.updateStrategy.maxSurgee: unknown field "maxSurgee" [schema/unknown-field]',
      'main.ts:9:1 web/l1 spec.replicas: must be an integer, got string "2" [schema/type]',
      'main.ts:13:1 web/flags data.on: must be a string, got boolean true [schema/type]',
    ]);
  });

  it('writes a plain int-or-string of an L1 class into the manifest', async () => {
    const dir = app('plain-value', `${HEADER}import { kruisePolicy } from 'kruise-gitops';
new kruisePolicy.PodUnavailableBudget(chart, 'budget', { metadata: { name: 'budget' }, spec: { minAvailable: '80%' as any, selector: { matchLabels: { app: 'web' } } } });
app.synth();
`);
    const r = await kgitops(['synth', dir]);
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    const [budget] = parseAllDocuments(readFileSync(join(dir, 'dist/web.k8s.yaml'), 'utf8')).map((d) => d.toJS());
    expect(budget.spec).toEqual({ minAvailable: '80%', selector: { matchLabels: { app: 'web' } } });
  });

  it('reports a construct\'s own error at the line in main.ts, not inside kruise-gitops', async () => {
    const dir = app('construct-throws', `${HEADER}import { Size } from 'cdk8s';
const db = new CloneSet(chart, 'db', { containers: [{ image: 'registry.example.com/db:1.0.0' }] });
db.addVolumeClaimTemplate({ name: 'data', storage: Size.gibibytes(1) });
db.addVolumeClaimTemplate({ name: 'data', storage: Size.gibibytes(2) });
app.synth();
`);
    const r = await kgitops(['synth', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error \S*construct-throws\/main\.ts:8:4$/m);
    expect(r.stderr).toContain('web/db: volume claim template "data" is defined twice [synth/app-failed]');
  });

  it('warns once about the defaults cdk8s-plus gives pods, at the first workload', async () => {
    const dir = app('plus-defaults', `${HEADER}
new CloneSet(chart, 'a', { containers: [{ image: 'registry.example.com/a:1.0.0' }] });
new CloneSet(chart, 'b', { containers: [{ image: 'registry.example.com/b:1.0.0' }] });
app.synth();
`);
    const r = await kgitops(['synth', dir, '--no-write']);
    expect(r.code).toBe(0);
    expect(r.stderr.match(/\[dsl\/cdk8s-plus-defaults\]/g)).toHaveLength(1);
    expect(r.stderr).toMatch(/^warning \S*plus-defaults\/main\.ts:6:1, construct web\/a, CloneSet web\/web-a-[0-9a-f]{8} \(apps\.kruise\.io\/v1alpha1\)$/m);
    expect(r.stderr).toContain('1 more workload gets some of them too (this warning is shown once) [dsl/cdk8s-plus-defaults]');
    expect(r.stderr).toContain('To keep them and drop this warning: `new App({ acceptCdk8sPlusDefaults: true })`');
  });

  it('reports an exception thrown by the app with its line', async () => {
    const dir = app('throws', `${HEADER}function build(): never { throw new Error('no image configured for web'); }\nbuild();\napp.synth();\n`);
    const r = await kgitops(['synth', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no image configured for web');
    expect(r.stderr).toMatch(/main\.ts:5:\d+/);
  });

  it('gives the app no cluster credentials or tokens', async () => {
    const dir = app('env', `import { Chart, ApiObject } from 'cdk8s';
import { App } from 'kruise-gitops';
const app = new App();
const chart = new Chart(app, 'env');
new ApiObject(chart, 'env', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'env' }, data: { keys: Object.keys(process.env).sort().join(',') } });
app.synth();
`);
    const r = await kgitops(['synth', dir, '-o', 'json'], { KUBECONFIG: '/secret/kubeconfig', GITHUB_TOKEN: 'ghp_secret', AWS_SECRET_ACCESS_KEY: 'x' });
    expect(r.code).toBe(0);
    const keys = parseAllDocuments(readFileSync(join(dir, 'dist/env.k8s.yaml'), 'utf8'))[0].toJS().data.keys.split(',');
    expect(keys).toContain('PATH');
    expect(keys).not.toContain('KUBECONFIG');
    expect(keys).not.toContain('GITHUB_TOKEN');
    expect(keys).not.toContain('AWS_SECRET_ACCESS_KEY');
  });

  it('stops an app that runs too long', async () => {
    const dir = app('loop', 'while (true) { /* never synthesizes */ }\n');
    const r = await kgitops(['synth', dir, '--timeout', '3']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the app did not finish within 3 s and was stopped');
  });

  it('still validates a plain cdk8s app, and says what it misses', async () => {
    const dir = app('plain', `import { App, Chart, ApiObject } from 'cdk8s';
const app = new App();
const chart = new Chart(app, 'plain');
new ApiObject(chart, 'cs', { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', metadata: { name: 'cs' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x:1' }] } }, updateStrategy: { type: 'InPlaceOnly', maxSurge: 1 } } });
app.synth();
`);
    const r = await kgitops(['synth', dir, '-o', 'json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.diagnostics.filter((d: any) => !d.rule.startsWith('policy/')).map((d: any) => d.rule)).toEqual(['synth/plain-cdk8s-app', 'cloneset/in-place-only-max-surge']);
    // Without policies/, the built-in pack advises (warnings) and blocks nothing: x:1 is not a version tag.
    expect(out.diagnostics.filter((d: any) => d.rule.startsWith('policy/')).map((d: any) => `${d.severity} ${d.rule}`))
      .toEqual(['warning policy/images-pinned', 'warning policy/resources']);
  });

  it('names the missing package and the importing file, not a line inside Node', async () => {
    const dir = app('missing-dep', `import pad from 'left-pad-not-installed';\nconsole.log(pad);\n`);
    // The app's own run (the type check would report TS2307 at main.ts:1 first).
    const r = await kgitops(['synth', dir, '--no-policies', '--no-typecheck']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error \S*missing-dep\/main\.ts\n/m);
    expect(r.stderr).toMatch(/Cannot find (module|package) 'left-pad-not-installed'/);
    expect(r.stderr).toContain("hint: the app imports left-pad-not-installed, which is not installed where it runs: add it to the app's package.json and run npm install");
    expect(r.stderr).not.toMatch(/loader:\d+|node:internal/);
  });

  it('exits 2 with a hint when there is no cdk8s.yaml', async () => {
    const empty = join(WORK, 'empty');
    mkdirSync(empty, { recursive: true });
    const r = await kgitops(['synth', empty]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cdk8s\.yaml not found/);
    expect(r.stderr).toContain('hint: create cdk8s.yaml with `app: npx tsx main.ts`');
  });

  it('exits 2 naming a directory that does not exist, in a repo or not, without a stack trace', async () => {
    for (const dir of [join(WORK, 'nowhere'), '/nonexistent-kgitops-app']) {
      const r = await kgitops(['synth', dir]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`error: ${dir}: no such directory`);
      expect(r.stderr).not.toMatch(/\bat .*\(.*:\d+:\d+\)/);
    }
  });

  it('exits 2 on a bad flag and teaches with --help', async () => {
    expect((await kgitops(['synth', '--output', 'xml'])).code).toBe(2);
    const help = await kgitops(['synth', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes: 0 valid (files written), 1 invalid (nothing written), 2 usage error or crash.');
  });
});

/**
 * The published package, as a user gets it: `npm pack` of this checkout, installed with
 * cdk8s, constructs and cdk8s-plus-33 from the registry into a new project (made by
 * `kgitops init`, an ES module package), and into a project laid out as `cdk8s init
 * typescript-app` makes it (CommonJS). In both, `npx cdk8s synth` and `npx kgitops synth`
 * render the same app: a kplus.Namespace, a CloneSet with a release plan and a policy.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WORK = mkdtempSync(join(tmpdir(), 'kgitops-package-test-'));
const PROJECT = join(WORK, 'shop');
afterAll(() => rmSync(WORK, { recursive: true, force: true }), 120_000);

interface Run { code: number; stdout: string; stderr: string }

function run(file: string, args: string[], cwd: string, timeout = 300_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, timeout, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const npx = (args: string[], cwd: string) => run('npx', ['--no-install', ...args], cwd);

function kinds(file: string): string[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS()).filter(Boolean).map((o) => o.kind).sort();
}

let tarball: string;

beforeAll(async () => {
  const pack = await run('npm', ['pack', '--pack-destination', WORK, '--loglevel=error'], ROOT);
  expect(pack.code, pack.stderr).toBe(0);
  tarball = join(WORK, pack.stdout.trim().split('\n').pop()!);
  const init = await run(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), 'init', PROJECT, '--package', `file:${tarball}`], WORK);
  expect(init.code, init.stderr).toBe(0);
  const install = await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], PROJECT, 540_000);
  expect(install.code, install.stderr).toBe(0);
}, 600_000);

describe('the npm package', () => {
  it('holds compiled JavaScript with .d.ts files, the bin and the schemas, and no TypeScript sources', () => {
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    expect(listing).toContain('package/dist/dsl/index.js');
    expect(listing).toContain('package/dist/dsl/index.d.ts');
    expect(listing).toContain('package/dist/engine/policy/index.d.ts');
    expect(listing).toContain('package/bin/kgitops.mjs');
    expect(listing).toContain('package/schemas/index.json');
    expect(listing).toContain('package/templates/app/main.ts');
    expect(listing.filter((f) => /^package\/(dsl|engine)\/.*\.ts$/.test(f))).toEqual([]);
    expect(listing.filter((f) => f.startsWith('package/test/') || f.startsWith('package/node_modules/'))).toEqual([]);
  });

  it('resolves one copy each of cdk8s, constructs and cdk8s-plus-33, shared with the DSL', () => {
    const pkg = join(PROJECT, 'node_modules', 'kruise-gitops');
    for (const name of ['cdk8s', 'constructs', 'cdk8s-plus-33']) {
      const fromProject = execFileSync(process.execPath, ['-p', `require.resolve('${name}')`], { cwd: PROJECT, encoding: 'utf8' }).trim();
      const fromDsl = execFileSync(process.execPath, ['-p', `require.resolve('${name}', { paths: [${JSON.stringify(pkg)}] })`], { cwd: PROJECT, encoding: 'utf8' }).trim();
      expect(fromDsl).toBe(fromProject);
      // Peers, not dependencies: npm never nests a copy of its own under the package.
      expect(existsSync(join(pkg, 'node_modules', name))).toBe(false);
    }
  });

  it('type-checks the scaffolded app against the published .d.ts files', async () => {
    const r = await npx(['tsc', '-p', '.'], PROJECT);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('synthesizes through npx cdk8s synth', async () => {
    const r = await npx(['cdk8s', 'synth'], PROJECT);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(kinds(join(PROJECT, 'dist', 'web.k8s.yaml'))).toEqual(['CloneSet', 'Namespace', 'PodUnavailableBudget']);
    expect(readFileSync(join(PROJECT, 'dist', 'web.k8s.yaml'), 'utf8')).toContain('kgitops.io/release-plan');
  });

  it('synthesizes through npx kgitops synth, with its policies', async () => {
    rmSync(join(PROJECT, 'dist'), { recursive: true, force: true });
    const r = await npx(['kgitops', 'synth', '-o', 'json'], PROJECT);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.summary.byKind).toEqual({ CloneSet: 1, Namespace: 1, PodUnavailableBudget: 1 });
    expect(out.policies).toContain('app-label');
    expect(kinds(join(PROJECT, 'dist', 'web.k8s.yaml'))).toEqual(['CloneSet', 'Namespace', 'PodUnavailableBudget']);
  });

  it('works in the CommonJS layout of cdk8s init typescript-app', async () => {
    const legacy = join(PROJECT, 'legacy');
    mkdirSync(join(legacy, 'policies'), { recursive: true });
    writeFileSync(join(legacy, 'package.json'), JSON.stringify({ name: 'legacy', version: '0.0.0', main: 'main.js', types: 'main.ts' }));
    writeFileSync(join(legacy, 'cdk8s.yaml'), 'language: typescript\napp: npx tsx main.ts\nimports:\n  - k8s\n');
    writeFileSync(join(legacy, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { alwaysStrict: true, declaration: true, experimentalDecorators: true, inlineSourceMap: true, lib: ['es2016'], module: 'CommonJS', noImplicitAny: true, strict: true, target: 'ES2017', skipLibCheck: true, noEmit: true },
      include: ['**/*.ts'], exclude: ['node_modules'],
    }));
    writeFileSync(join(legacy, 'main.ts'), `import { Construct } from 'constructs';
import { App as Cdk8sApp, Chart, ChartProps } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { App, CloneSet, Gate, Release, Step } from 'kruise-gitops';

export class MyChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);
    new kplus.Namespace(this, 'ns', { metadata: { name: 'legacy' } });
    new CloneSet(this, 'api', {
      metadata: { name: 'api', namespace: 'legacy' },
      replicas: 2,
      release: Release.steps(Step.to(1).gate(Gate.podsReady(), Gate.approval()), Step.to('100%').gate(Gate.podsReady())),
      containers: [{ name: 'api', image: 'registry.example.com/api:1.0.0' }],
    });
  }
}

const app: Cdk8sApp = new App();
new MyChart(app, 'legacy');
app.synth();
`);
    writeFileSync(join(legacy, 'policies', 'index.ts'), `import { definePolicy, policySet } from 'kruise-gitops/policy';
const noApi = definePolicy({
  name: 'named-api', description: 'CloneSets are named', kinds: ['CloneSet'],
  check(w, ctx) { if (w.manifest.metadata.name === 'api') ctx.report('api is a reserved name', { severity: 'warning' }); },
});
export default policySet({ policies: [noApi] });
`);
    const tsc = await npx(['tsc', '-p', '.'], legacy);
    expect(tsc.stdout + tsc.stderr).toBe('');
    const cdk8s = await npx(['cdk8s', 'synth'], legacy);
    expect(cdk8s.code, cdk8s.stdout + cdk8s.stderr).toBe(0);
    expect(kinds(join(legacy, 'dist', 'legacy.k8s.yaml'))).toEqual(['CloneSet', 'Namespace']);
    const r = await npx(['kgitops', 'synth', 'legacy', '--no-write', '-o', 'json'], PROJECT);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.summary.byKind).toEqual({ CloneSet: 1, Namespace: 1 });
    expect(out.policies).toContain('named-api');
    expect(out.diagnostics).toEqual(expect.arrayContaining([expect.objectContaining({ rule: 'policy/named-api', message: 'api is a reserved name' })]));
  });
});

/**
 * A repo that pins its own dependencies (package.json + package-lock.json) gets them installed
 * with `npm ci --ignore-scripts`, once per lockfile: the second commit with the same lockfile
 * reuses the cached node_modules. (Needs the npm registry, which this machine reaches.)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { engineRuntime, npmErrorReason, prepareDependencies } from '../../../engine/synth/dependencies.js';
import { ENGINE_ROOT } from '../../../engine/synth/runtime.js';
import { runApp } from '../../../engine/synth/run-app.js';

const work = mkdtempSync(join(tmpdir(), 'kgitops-deps-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function checkout(name: string): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'shop-deploy', private: true, type: 'module', dependencies: { yaml: '2.9.1' } }));
  // The app uses a dependency only the repo declares.
  writeFileSync(join(dir, 'main.mjs'), `import { stringify } from 'yaml';
import { mkdirSync, writeFileSync } from 'node:fs';
const out = process.env.CDK8S_OUTDIR;
mkdirSync(out, { recursive: true });
writeFileSync(out + '/app.k8s.yaml', stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'from-lockfile-deps' }, data: { a: 'b' } }));
`);
  writeFileSync(join(dir, 'cdk8s.yaml'), 'app: node main.mjs\n');
  return dir;
}

it('installs a lockfile repo\'s dependencies once, without install scripts, and the app uses them', async () => {
  const cache = join(work, 'cache');
  const first = checkout('commit-1');
  execFileSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: first, stdio: 'ignore' });
  const progress: string[] = [];
  expect(await prepareDependencies(first, first, { cacheDir: cache, onProgress: (m) => progress.push(m) })).toBe('lockfile');
  expect(progress).toEqual(["installing the repo's dependencies (npm ci --ignore-scripts; the lockfile changed) ..."]);
  expect(existsSync(join(first, 'node_modules', 'yaml', 'package.json'))).toBe(true);
  const run = await runApp(first);
  expect(run.objects.map((o) => o.manifest.metadata.name)).toEqual(['from-lockfile-deps']);

  // Another commit with the same lockfile: no install, the same cached node_modules.
  const second = checkout('commit-2');
  execFileSync('cp', [join(first, 'package-lock.json'), second]);
  const again: string[] = [];
  await prepareDependencies(second, second, { cacheDir: cache, onProgress: (m) => again.push(m) });
  expect(again).toEqual([]);
  expect(readlinkSync(join(second, 'node_modules'))).toBe(readlinkSync(join(first, 'node_modules')));
}, 120_000);

it('links the engine\'s own packages for a repo without a lockfile', async () => {
  const dir = join(work, 'plain');
  mkdirSync(dir, { recursive: true });
  expect(await prepareDependencies(dir, dir, { cacheDir: join(work, 'cache') })).toBe('engine');
  expect(existsSync(join(dir, 'node_modules', 'kruise-gitops', 'dsl', 'index.ts'))).toBe(true);
  expect(existsSync(join(dir, 'node_modules', 'cdk8s', 'package.json'))).toBe(true);
});

it('builds its own runtime when another checkout of the engine shares the cache (its links point into that checkout)', async () => {
  const cache = join(work, 'shared-cache');
  const runtime = engineRuntime(cache);
  expect(readlinkSync(join(runtime, 'kruise-gitops'))).toBe(ENGINE_ROOT);
  // What a CI clone found: the runtime made by a developer's tree at another path.
  rmSync(join(runtime, 'kruise-gitops'));
  mkdirSync(join(work, 'another-checkout'));
  symlinkSync(join(work, 'another-checkout'), join(runtime, 'kruise-gitops'), 'dir');
  const dir = join(work, 'plain-2');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cdk8s.yaml'), 'app: npx tsx main.ts\n');
  writeFileSync(join(dir, 'main.ts'), `import { ApiObject, Chart } from 'cdk8s';
import { App } from 'kruise-gitops';
const app = new App();
new ApiObject(new Chart(app, 'c'), 'cm', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'runtime-of-this-engine' } });
app.synth();
`);
  await prepareDependencies(dir, dir, { cacheDir: cache });
  expect(readlinkSync(join(dir, 'node_modules', 'kruise-gitops'))).toBe(ENGINE_ROOT);
  const run = await runApp(dir);
  expect(run.diagnostics).toEqual([]);
  expect(run.objects.map((o) => o.manifest.metadata.name)).toEqual(['runtime-of-this-engine']);
}, 60_000);

it("says npm's reason when a repo's npm ci fails, not npm's usage text", async () => {
  const dir = checkout('out-of-sync');
  execFileSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'ignore' });
  // A dependency added to package.json without updating the lockfile: npm ci refuses (EUSAGE).
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'shop-deploy', private: true, type: 'module', dependencies: { yaml: '2.9.1', 'left-pad': '1.3.0' } }));
  const failure = await prepareDependencies(dir, dir, { cacheDir: join(work, 'cache-sync') }).then(() => undefined, (e: Error & { hint?: string }) => e);
  expect(failure?.name).toBe('DependencyError');
  expect(failure!.message).toMatch(/^npm ci failed: `npm ci` can only install packages when your package\.json and package-lock\.json .* are in sync/);
  expect(failure!.message).toContain('Missing: left-pad@1.3.0 from lock file');
  expect(failure!.message).not.toMatch(/Usage:|--install-strategy|Clean install a project/);
  expect(failure!.hint).toContain('in sync');
});

it('shortens long runs of the same complaint in npm output', () => {
  const stderr = ['npm error code EUSAGE', 'npm error', 'npm error `npm ci` can only install packages when in sync.', 'npm error',
    ...Array.from({ length: 40 }, (_, i) => `npm error Missing: pkg-${i}@1.0.0 from lock file`),
    'npm error', 'npm error Clean install a project', 'npm error', 'npm error Usage:', 'npm error npm ci',
    'npm error A complete log of this run can be found in: /root/.npm/_logs/x.log'].join('\n');
  expect(npmErrorReason(stderr)).toBe('`npm ci` can only install packages when in sync. | Missing: pkg-0@1.0.0 from lock file | Missing: pkg-1@1.0.0 from lock file | ... and 38 more "Missing:" lines');
});

/**
 * `kgitops init`: the scaffold synthesizes at once, outside this checkout and before any
 * npm install (its app runs against kgitops's own packages), and its workflow is the README's.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WORK = mkdtempSync(join(tmpdir(), 'kgitops-init-test-'));
afterAll(() => rmSync(WORK, { recursive: true, force: true }));

interface Run { code: number; stdout: string; stderr: string }

function kgitops(args: string[], cwd = WORK): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), ...args], { cwd, env: { ...process.env, FORCE_COLOR: '0' } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('kgitops init', () => {
  it('scaffolds a repo outside the checkout that synthesizes at once, with policies enforced', async () => {
    const init = await kgitops(['init', 'shop', '-o', 'json']);
    expect(init.code).toBe(0);
    const out = JSON.parse(init.stdout);
    expect(out.files).toEqual(['.github/workflows/kgitops-diff.yml', '.gitignore', 'cdk8s.yaml', 'main.ts', 'package.json', 'policies/index.ts', 'tsconfig.json']);
    expect(out.gitInitialized).toBe(true);
    const dir = join(WORK, 'shop');
    expect(existsSync(join(dir, '.git'))).toBe(true);
    expect(existsSync(join(dir, 'node_modules'))).toBe(false);

    const synth = await kgitops(['synth', '-o', 'json'], dir);
    expect(synth.stderr).not.toContain('error');
    expect(synth.code).toBe(0);
    const r = JSON.parse(synth.stdout);
    expect(r.summary.byKind).toEqual({ CloneSet: 1, Namespace: 1, PodUnavailableBudget: 1 });
    expect(r.policies).toContain('app-label');
    // Nothing was installed or linked into the new repo: the engine's packages were bound in the sandbox.
    expect(existsSync(join(dir, 'node_modules'))).toBe(false);
    const manifest = readFileSync(join(dir, 'dist', 'web.k8s.yaml'), 'utf8');
    expect(manifest).toContain('kgitops.io/release-plan');

    // The policy file is live: a workload without the app label is refused.
    writeFileSync(join(dir, 'main.ts'), readFileSync(join(dir, 'main.ts'), 'utf8').replace("podMetadata: { labels: { app: 'web' } },", ''));
    const bad = await kgitops(['synth', '--no-write'], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/main\.ts:\d+:\d+.*\n.*its pods have no app label \[policy\/app-label\]/);
  });

  it('writes a package.json with kruise-gitops and its peers, as an ES module package', () => {
    const engine = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const pkg = JSON.parse(readFileSync(join(WORK, 'shop', 'package.json'), 'utf8'));
    expect(pkg.name).toBe('shop');
    expect(pkg.type).toBe('module');
    expect(pkg.dependencies).toEqual({ 'kruise-gitops': `^${engine.version}`, ...engine.peerDependencies });
    expect(Object.keys(engine.peerDependencies).sort()).toEqual(['cdk8s', 'cdk8s-plus-33', 'constructs']);
    expect(pkg.devDependencies['cdk8s-cli']).toBe(engine.devDependencies['cdk8s-cli']);
  });

  it("carries the README's GitHub Actions workflow, diffing the repo itself", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /<!-- ci-recipe:start -->\n```yaml\n([\s\S]*?)```\n<!-- ci-recipe:end -->/.exec(readme)![1];
    const scaffolded = readFileSync(join(WORK, 'shop', '.github/workflows/kgitops-diff.yml'), 'utf8');
    expect(parse(scaffolded)).toEqual(parse(block.replaceAll('npx kgitops diff examples', 'npx kgitops diff .')));
  });

  it('refuses a directory that already has its files, writes nothing, exit 2', async () => {
    const before = readFileSync(join(WORK, 'shop', 'cdk8s.yaml'), 'utf8');
    const r = await kgitops(['init', 'shop']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: .*shop already has .*cdk8s\.yaml.*main\.ts/m);
    expect(r.stderr).toMatch(/^hint: run it in a new directory/m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(readFileSync(join(WORK, 'shop', 'cdk8s.yaml'), 'utf8')).toBe(before);
    const json = await kgitops(['init', 'shop', '-o', 'json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { message: expect.stringContaining('already has') } });
  });
});

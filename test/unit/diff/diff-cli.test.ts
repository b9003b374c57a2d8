/**
 * `kgitops diff` as a reviewer runs it, on a git repo holding a copy of the examples: every kind
 * of change (image, gates, strategy, replicas, added, removed), the three output formats, the
 * exit codes, and policy errors that would block the commit.
 */
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initRepo } from '../../fixtures/git.js';
import { closedPort } from '../../fixtures/net.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
// Inside the package, so that the working tree resolves `kruise-gitops` as a user's repo does.
const REPO = join(ROOT, '.cache', `test-diff-${process.pid}`);

interface Run { code: number; stdout: string; stderr: string }

function kgitops(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), ...args], { cwd: REPO, env: process.env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();
}

function edit(file: string, from: string | RegExp, to: string): void {
  const path = join(REPO, file);
  const before = readFileSync(path, 'utf8');
  const after = before.replace(from, to);
  if (after === before) throw new Error(`${file}: "${from}" not found`);
  writeFileSync(path, after);
}

/** The examples' main.ts, plus one ConfigMap that the head removes. */
const LEGACY = `new ApiObject(app.node.findChild('shop') as Chart, 'legacy', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'legacy-settings' }, data: { mode: 'old' } });\n`;

beforeAll(() => {
  rmSync(REPO, { recursive: true, force: true });
  mkdirSync(REPO, { recursive: true });
  for (const f of ['cdk8s.yaml', 'main.ts', 'lib', 'policies']) cpSync(join(ROOT, 'examples', f), join(REPO, f), { recursive: true });
  edit('main.ts', "import { App } from 'kruise-gitops';", "import { ApiObject, Chart } from 'cdk8s';\nimport { App } from 'kruise-gitops';");
  edit('main.ts', 'app.synth();', `${LEGACY}app.synth();`);
  writeFileSync(join(REPO, '.gitignore'), 'dist/\n');
  initRepo(REPO);
  git('add', '-A');
  git('commit', '-q', '-m', 'base');
});

afterAll(() => rmSync(REPO, { recursive: true, force: true }));

/** The head used by most tests: one change of every kind. */
function makeHead(): void {
  git('checkout', '-q', '--', '.');
  edit('lib/shop.ts', "shop/storefront:2.14.1'", "shop/storefront:2.15.0'"); // image: a release
  edit('lib/shop.ts', "Step.subsets({ 'zone-b': '100%' }).gate(Gate.podsReady(), Gate.bake(Duration.minutes(15)))", "Step.subsets({ 'zone-b': '100%' }).gate(Gate.podsReady(), Gate.bake(Duration.minutes(30)))"); // gates only
  edit('lib/platform.ts', 'DaemonSetUpdateStrategy.inPlaceIfPossible({ maxUnavailable: 1 })', 'DaemonSetUpdateStrategy.inPlaceIfPossible({ maxUnavailable: 2 })'); // strategy
  edit('lib/shop.ts', /(metadata: \{ name: 'zookeeper' \},\n\s+)replicas: 3,/, '$1replicas: 2,'); // replicas, no rollout
  edit('main.ts', LEGACY, `new ApiObject(app.node.findChild('shop') as Chart, 'flags', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'feature-flags' }, data: { checkout: 'v2' } });\n`);
}

const normalize = (s: string) => s.replace(/\b[0-9a-f]{12}\b/g, '<sha>').replace(/test-diff-\d+/g, 'test-diff');

describe('kgitops diff', () => {
  it('says "no changes" and exits 0 when the working tree renders what HEAD renders', async () => {
    git('checkout', '-q', '--', '.');
    const r = await kgitops(['diff', '.']);
    expect(r.stderr).toContain('synthesizing HEAD and working tree ...');
    expect(r.stdout).toMatch(/^\.?\S*: HEAD \([0-9a-f]{12}\) -> working tree\nno changes \(14 objects\)$/m);
    expect(r.code).toBe(0);
  }, 60_000);

  it('lists every kind of change, marks the ones a release acts on, and previews the release (text)', async () => {
    makeHead();
    const r = await kgitops(['diff', '.']);
    expect(r.code).toBe(1);
    const out = r.stdout;
    expect(out).toContain('4 changed, 1 added, 1 removed, 9 unchanged');
    // Image: release-relevant, with the storefront's release preview.
    expect(out).toContain('~ CloneSet shop/storefront  changed  (shop/storefront, lib/shop.ts:');
    expect(out).toContain('    ! ~ spec.template.spec.containers[name=web].image: registry.example.com/shop/storefront:2.14.1 -> registry.example.com/shop/storefront:2.15.0');
    expect(out).toMatch(/ {4}CloneSet shop\/storefront: 3 step\(s\) over 10 pod\(s\)/);
    // Gates: the plan annotation changed, the template did not: no rollout.
    expect(out).toContain('! ~ metadata.annotations["kgitops.io/release-plan"]: step 2: zone-b: 100% (pods ready, bake 15m) -> zone-b: 100% (pods ready, bake 30m)');
    // Strategy and replicas.
    expect(out).toContain('! ~ spec.updateStrategy.rollingUpdate.maxUnavailable: 1 -> 2');
    expect(out).toContain('! ~ spec.replicas: 3 -> 2');
    expect(out.match(/no rollout: the pod template is unchanged/g)).toHaveLength(3);
    // Added and removed.
    expect(out).toContain('+ ConfigMap shop/feature-flags  added');
    expect(out).toContain('- ConfigMap shop/legacy-settings  removed');
    expect(out).toContain('policies and validation on working tree: 0 error(s), 0 warning(s) (8 policies)');
  }, 60_000);

  it('writes a pull-request comment in markdown: summary table first, one collapsible section per object', async () => {
    makeHead();
    const r = await kgitops(['diff', '.', '--format', 'markdown']);
    expect(r.code).toBe(1);
    await expect(normalize(r.stdout)).toMatchFileSnapshot('__snapshots__/diff.md');
  }, 60_000);

  it('gives tools JSON with the changes, the release fields and the policies', async () => {
    makeHead();
    const r = await kgitops(['diff', '.', '-o', 'json']);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.counts).toEqual({ added: 1, removed: 1, changed: 4 });
    expect(j.unchanged).toBe(9);
    const storefront = j.objects.find((o: any) => o.object.name === 'storefront');
    expect(storefront.release).toEqual([{ path: 'spec.template.spec.containers[name=web].image', op: 'change', before: 'registry.example.com/shop/storefront:2.14.1', after: 'registry.example.com/shop/storefront:2.15.0', aspect: 'image' }]);
    expect(storefront.preview.steps.map((s: any) => s.updated)).toEqual([1, 5, 10]);
    expect(j.objects.map((o: any) => `${o.change} ${o.object.kind}/${o.object.name}`)).toEqual([
      'changed CloneSet/storefront', 'changed UnitedDeployment/cart', 'changed StatefulSet/zookeeper', 'changed DaemonSet/node-agent',
      'added ConfigMap/feature-flags', 'removed ConfigMap/legacy-settings',
    ]);
    expect(j.policies).toContain('app-label');
  }, 60_000);

  it('compares two commits in worktrees and leaves no worktree behind', async () => {
    makeHead();
    git('add', '-A');
    git('commit', '-q', '-m', 'head');
    try {
      const r = await kgitops(['diff', '.', '--base', 'HEAD~1', '--head', 'HEAD', '-o', 'json']);
      expect(r.code).toBe(1);
      const j = JSON.parse(r.stdout);
      expect(j.base.sha).toBe(git('rev-parse', 'HEAD~1'));
      expect(j.head.sha).toBe(git('rev-parse', 'HEAD'));
      expect(j.counts).toEqual({ added: 1, removed: 1, changed: 4 });
      // Source locations point into the user's repo, not the temporary worktree.
      expect(j.objects[0].source).toMatch(/^lib\/shop\.ts:\d+:\d+$/);
      expect(git('worktree', 'list').split('\n')).toHaveLength(1);
    } finally {
      git('reset', '-q', '--hard', 'HEAD~1');
    }
  }, 90_000);

  it('exits 2 and says why when the head breaks a policy; the comment still shows the diff', async () => {
    git('checkout', '-q', '--', '.');
    edit('lib/shop.ts', "shop/storefront:2.14.1'", "shop/storefront:latest'");
    const r = await kgitops(['diff', '.', '-f', 'markdown']);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('| 🟡 changed | CloneSet `shop/storefront` | 1 |');
    expect(r.stdout).toContain('**Policies and validation: ❌ 1 error(s). This commit would not be applied.**');
    expect(r.stdout).toContain('- ❌ **policy/images-pinned** (CloneSet shop/storefront (apps.kruise.io/v1alpha1), construct `shop/storefront`, `lib/shop.ts:');
    expect(r.stdout).toContain('`spec.template.spec.containers[0].image`): container "web" uses "registry.example.com/shop/storefront:latest": :latest moves, so the same manifest can run different code');
  }, 60_000);

  it('kgitops preview still shows the release plans of a head that breaks a policy (the policies are diff\'s and synth\'s to report)', async () => {
    git('checkout', '-q', '--', '.');
    edit('lib/shop.ts', "shop/storefront:2.14.1'", "shop/storefront:latest'");
    const r = await kgitops(['preview', '.']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('CloneSet shop/storefront: 3 step(s) over 10 pod(s) (spec.replicas)');
  }, 60_000);

  it('exits 2 on a head that does not type-check, naming file:line:col; preview exits 1; --no-typecheck lets both run it', async () => {
    git('checkout', '-q', '--', '.');
    edit('lib/shop.ts', /(metadata: \{ name: 'storefront' \},\n\s+)replicas: 10,/, '$1replica: 10,');
    const line = readFileSync(join(REPO, 'lib/shop.ts'), 'utf8').split('\n').findIndex((l) => l.includes('replica: 10,'));
    const at = `lib/shop.ts:${line + 1}:7`;
    const r = await kgitops(['diff', '.', '-o', 'json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).head.diagnostics).toEqual([expect.objectContaining({
      rule: 'synth/type-error', source: at, message: expect.stringContaining("'replica' does not exist in type 'CloneSetProps'"),
    })]);
    // Unchecked, the typo renders: the storefront falls back to 1 replica, a change to review.
    const unchecked = JSON.parse((await kgitops(['diff', '.', '-o', 'json', '--no-typecheck'])).stdout);
    expect(unchecked.head.diagnostics.map((d: { rule: string }) => d.rule)).not.toContain('synth/type-error');
    const storefront = unchecked.objects.find((o: { object: { kind: string; name: string } }) => o.object.kind === 'CloneSet' && o.object.name === 'storefront');
    expect(storefront.release.map((f: { aspect: string }) => f.aspect)).toContain('replicas');

    const preview = await kgitops(['preview', '.']);
    expect(preview.code).toBe(1);
    expect(preview.stderr).toContain(`error ${at}\n`);
    expect(preview.stderr).toContain('[synth/type-error]');
    expect((await kgitops(['preview', '.', '--no-typecheck'])).code).toBe(0);
  }, 120_000);

  it('exits 2 on an unknown ref and outside a git repo, with a hint', async () => {
    git('checkout', '-q', '--', '.');
    const r = await kgitops(['diff', '.', '--base', 'no-such-branch']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error: unknown git ref "no-such-branch"');
    expect(r.stderr).toContain('hint: pass a branch, tag or commit that exists locally');
    const outside = await kgitops(['diff', '/']);
    expect(outside.code).toBe(2);
    expect(outside.stderr).toContain('is not inside a git repository');
  }, 60_000);

  it('--live against a cluster that does not answer fails once, with exit 2 and a hint, not once per object', async () => {
    git('checkout', '-q', '--', '.');
    const port = await closedPort();
    const kubeconfig = join(REPO, '.kubeconfig-closed');
    writeFileSync(kubeconfig, [
      'apiVersion: v1', 'kind: Config', 'current-context: gone',
      `clusters: [{ name: gone, cluster: { server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true } }]`,
      'users: [{ name: u, user: { token: t } }]',
      'contexts: [{ name: gone, context: { cluster: gone, user: u } }]', '',
    ].join('\n'));
    try {
      const r = await kgitops(['diff', '.', '--live', '--kubeconfig', kubeconfig]);
      expect(r.code).toBe(2);
      // Checked before anything synthesizes (KubeCluster.connect), in the words every command uses.
      expect(r.stderr).toMatch(new RegExp(`^error: cannot reach the cluster "gone" at https://127\\.0\\.0\\.1:${port} \\(kubeconfig .*\\): connection refused`, 'm'));
      expect(r.stderr).toContain('hint: check that the apiserver is running and that the kubeconfig\'s server address is right');
      expect(r.stderr.match(/^error:/gm)).toHaveLength(1);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      const missing = await kgitops(['diff', '.', '--live', '--kubeconfig', join(REPO, 'no-such-kubeconfig')]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/^error: kubeconfig .*no-such-kubeconfig does not exist$/m);
    } finally {
      rmSync(kubeconfig, { force: true });
    }
  }, 60_000);
});

/**
 * `kgitops diff --live` against the real apiserver: a cluster the engine just synced shows no
 * change (server defaults, ApplySet labels and the release manager's fields do not count), and
 * a new commit shows what the engine would change, add and prune.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { KubeCluster } from '../../engine/cluster/kube.js';
import { configMap, GitApp } from '../fixtures/git-app.js';
import { kubeconfigPath, withNamespace } from '../cluster/harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-engine-cache-'));
afterAll(() => rmSync(CACHE, { recursive: true, force: true }));

function kgitops(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), ...args], { cwd, env: process.env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('kgitops diff --live', () => {
  it('shows nothing for a synced app, then what a new commit would change, add and prune', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      try {
        repo.commit({
          namespace: ns,
          objects: [configMap('a', { v: '1' }), configMap('b', { v: '1' })],
          clonesets: [{ name: 'web', replicas: 2, image: 'registry.example.com/web:1.0.0' }],
        });
        const sync = await kgitops(['sync', '--repo', repo.dir, '--app', 'shop', '-n', ns, '--kubeconfig', kubeconfigPath(), '--cache-dir', CACHE, '--once'], ROOT);
        expect(sync.code).toBe(0);
        const live = ['diff', '.', '--live', '--head', 'HEAD', '--app', 'shop', '-n', ns, '--kubeconfig', kubeconfigPath()];

        const clean = await kgitops([...live, '-o', 'json'], repo.dir);
        const j = JSON.parse(clean.stdout);
        expect(j.objects).toEqual([]);
        expect(j.unchanged).toBe(3);
        expect(clean.code).toBe(0);

        repo.commit({
          namespace: ns,
          objects: [configMap('a', { v: '2' }), configMap('c', { v: '1' })],
          clonesets: [{ name: 'web', replicas: 2, image: 'registry.example.com/web:1.1.0' }],
        });
        const changed = await kgitops(live, repo.dir);
        expect(changed.code).toBe(1);
        expect(changed.stdout).toMatch(/^shop: cluster -> HEAD \([0-9a-f]{12}\)\n2 changed, 1 added, 1 removed, 0 unchanged$/m);
        expect(changed.stdout).toContain(`~ ConfigMap ${ns}/a  changed`);
        expect(changed.stdout).toContain('      ~ data.v: 1 -> 2');
        expect(changed.stdout).toContain('    ! ~ spec.template.spec.containers[name=main].image: registry.example.com/web:1.0.0 -> registry.example.com/web:1.1.0');
        expect(changed.stdout).toContain(`+ ConfigMap ${ns}/c  added`);
        expect(changed.stdout).toContain(`- ConfigMap ${ns}/b  removed`);
        // A dry-run: the cluster still has what the engine applied.
        const cluster = KubeCluster.load({ kubeconfig: kubeconfigPath() });
        expect((await cluster.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' }))!.data).toEqual({ v: '1' });
        expect(await cluster.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'c' })).toBeUndefined();
      } finally {
        repo.remove();
      }
    }), 180_000);

  it('shows nothing for a synced workload with a release plan: the release manager\'s fields do not count', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp(`import { readFileSync } from 'node:fs';
import { Chart } from 'cdk8s';
import { App, CloneSet, Release } from 'kruise-gitops';
const { image } = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: '${ns}' });
new CloneSet(chart, 'web', { metadata: { name: 'web' }, replicas: 4, release: Release.canary('25%', '100%'), containers: [{ name: 'main', image }] });
app.synth();
`);
      try {
        const sync = () => kgitops(['sync', '--repo', repo.dir, '--app', 'shop', '-n', ns, '--kubeconfig', kubeconfigPath(), '--cache-dir', CACHE, '--once'], ROOT);
        repo.commit({ image: 'registry.example.com/web:1.0.0' });
        expect((await sync()).code).toBe(0);
        // A new template starts a release: the release manager holds the partition.
        repo.commit({ image: 'registry.example.com/web:1.1.0' });
        expect((await sync()).code).toBe(0);
        const cluster = KubeCluster.load({ kubeconfig: kubeconfigPath() });
        const live = (await cluster.get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: ns, name: 'web' }))!;
        expect(live.metadata.managedFields?.map((f) => f.manager)).toContain('kgitops-release');
        const r = await kgitops(['diff', '.', '--live', '--head', 'HEAD', '--app', 'shop', '-n', ns, '--kubeconfig', kubeconfigPath(), '-o', 'json'], repo.dir);
        expect(JSON.parse(r.stdout)).toMatchObject({ objects: [], unchanged: 1 });
        expect(r.code).toBe(0);
      } finally {
        repo.remove();
      }
    }), 180_000);

  it('exits 2 with the reason when the cluster cannot be reached', async () => {
    const repo = new GitApp();
    try {
      repo.commit({ namespace: 'x', objects: [configMap('a', { v: '1' })] });
      const r = await kgitops(['diff', '.', '--live', '--head', 'HEAD', '--kubeconfig', join(repo.dir, 'missing-kubeconfig')], repo.dir);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^error: .*missing-kubeconfig/m);
    } finally {
      repo.remove();
    }
  }, 60_000);
});

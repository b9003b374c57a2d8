/**
 * The engine as a process: killed (SIGKILL) in the middle of an apply and restarted, it
 * converges without lost state; stopped with SIGTERM, it finishes the requests in flight and
 * records the reconcile as interrupted. Also the push webhook: a push triggers a reconcile at
 * once, and a force-push that rewrites history is applied and flagged; and --metrics-port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parentName, readParent } from '../../engine/apply/applyset.js';
import { KubeCluster } from '../../engine/cluster/kube.js';
import { configMap, GitApp } from '../fixtures/git-app.js';
import { kubeconfigPath, waitFor, withNamespace } from '../cluster/harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-engine-cache-'));
afterAll(() => rmSync(CACHE, { recursive: true, force: true }));

function kgitops(args: string[], env: Record<string, string> = {}): { child: ChildProcess; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> } {
  const child = spawn(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), ...args], { cwd: ROOT, env: { ...process.env, ...env } });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  return { child, exit: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out }))) };
}

const many = (n: number, v: string) => Array.from({ length: n }, (_, i) => configMap(`cm-${String(i).padStart(3, '0')}`, { v }));
const syncArgs = (repo: GitApp, ns: string, ...more: string[]) => [
  'sync', '--repo', repo.dir, '--app', 'shop', '-n', ns, '--kubeconfig', kubeconfigPath(), '--cache-dir', CACHE, ...more,
];

async function count(cluster: KubeCluster, ns: string, v: string): Promise<number> {
  const { items } = await cluster.list('v1', 'ConfigMap', { namespace: ns });
  return items.filter((i) => i.metadata.name.startsWith('cm-') && i.data?.v === v).length;
}

describe('the engine process', () => {
  it('converges after being killed in the middle of an apply', () =>
    withNamespace(async (ns) => {
      const cluster = KubeCluster.load({ kubeconfig: kubeconfigPath() });
      const repo = new GitApp();
      const sha = repo.commit({ namespace: ns, objects: many(300, '1') });
      const first = kgitops(syncArgs(repo, ns, '--once'));
      // Kill it once part of the objects exist.
      await waitFor(async () => (await count(cluster, ns, '1')) >= 20 || undefined, { timeoutMs: 120_000, intervalMs: 50 });
      first.child.kill('SIGKILL');
      const killed = await first.exit;
      expect(killed.signal).toBe('SIGKILL');
      const partial = await count(cluster, ns, '1');
      expect(partial).toBeLessThan(300);
      // The parent already says an apply of this commit started.
      const during = readParent(await cluster.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: parentName('shop') }));
      expect(during.data.status).toMatchObject({ sync: 'Progressing', attemptedCommit: sha });

      const second = await kgitops(syncArgs(repo, ns, '--once')).exit;
      expect(second.out).toContain('Succeeded: applied commit');
      expect(second.code).toBe(0);
      expect(await count(cluster, ns, '1')).toBe(300);
      const after = readParent(await cluster.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: parentName('shop') }));
      expect(after.data.status).toMatchObject({ sync: 'Synced', appliedCommit: sha });
      expect(Object.keys(after.data.inventory)).toHaveLength(300);
      // And a third run has nothing to do.
      const third = await kgitops(syncArgs(repo, ns, '--once', '-o', 'json')).exit;
      expect(JSON.parse(third.out.slice(third.out.indexOf('{')))).toMatchObject({ result: 'NoChange', writes: 0 });
      repo.remove();
    }), 240_000);

  it('kgitops status shows the commit, sync state, per-object health and history, as a table and as JSON', () =>
    withNamespace(async (ns) => {
      const repo = new GitApp();
      const sha = repo.commit({ namespace: ns, objects: [configMap('a', { v: '1' })], clonesets: [{ name: 'web', replicas: 2, image: 'registry.example.com/web:1' }] });
      expect((await kgitops(syncArgs(repo, ns, '--once')).exit).code).toBe(0);
      const statusArgs = ['status', '--app', 'shop', '-n', ns, '--kubeconfig', kubeconfigPath()];
      const text = await kgitops(statusArgs).exit;
      expect(text.code).toBe(0);
      expect(text.out).toMatch(new RegExp(`^shop\\s+\\S+\\s+${sha.slice(0, 12)}\\s+Synced\\s+Progressing\\s+applied commit`, 'm'));
      // No Kruise controller at this level: the CloneSet waits for its controller.
      expect(text.out).toMatch(/CloneSet\s+\S+\s+web\s+Progressing\s+waiting for the controller to observe generation 1/);
      expect(text.out).toMatch(/ConfigMap\s+\S+\s+a\s+Current\s+exists/);
      expect(text.out).toMatch(new RegExp(`${sha.slice(0, 12)}\\s+Succeeded`));
      const json = JSON.parse((await kgitops([...statusArgs, '-o', 'json']).exit).out);
      expect(json).toMatchObject({ app: 'shop', simulated: false, status: { sync: 'Synced', appliedCommit: sha }, history: [{ commit: sha, result: 'Succeeded' }] });
      expect(json.objects.map((o: any) => `${o.kind}/${o.name}=${o.health}`).sort()).toEqual(['CloneSet/web=Progressing', 'ConfigMap/a=Current']);
      // An app that never synced: exit 1 and say so.
      const none = await kgitops(['status', '--app', 'nothing', '-n', ns, '--kubeconfig', kubeconfigPath()]).exit;
      expect(none.code).toBe(1);
      expect(none.out).toContain('no state found: app "nothing" has no ConfigMap kgitops-nothing');
      repo.remove();
    }), 120_000);

  it('finishes the requests in flight on SIGTERM and records the reconcile as interrupted', () =>
    withNamespace(async (ns) => {
      const cluster = KubeCluster.load({ kubeconfig: kubeconfigPath() });
      const repo = new GitApp();
      repo.commit({ namespace: ns, objects: many(300, '1') });
      const run = kgitops(syncArgs(repo, ns, '--once'));
      await waitFor(async () => (await count(cluster, ns, '1')) >= 20 || undefined, { timeoutMs: 120_000, intervalMs: 50 });
      run.child.kill('SIGTERM');
      const r = await run.exit;
      expect(r.code).toBe(1);
      expect(r.out).toContain('stopping: finishing the requests in flight');
      expect(r.out).toContain('Interrupted: interrupted while applying commit');
      const state = readParent(await cluster.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: parentName('shop') }));
      expect(state.data.history[0].result).toBe('Interrupted');
      repo.remove();
    }), 240_000);

  it('applies a push at once when the webhook fires, and flags a force-push; --metrics-port serves its reconciles and requests', () =>
    withNamespace(async (ns) => {
      const cluster = KubeCluster.load({ kubeconfig: kubeconfigPath() });
      const repo = new GitApp();
      repo.commit({ namespace: ns, objects: [configMap('a', { v: '1' })] });
      const secret = 'test-webhook-secret';
      const port = 20000 + Math.floor(Math.random() * 20000);
      const metricsPort = port + 1;
      const engine = kgitops(syncArgs(repo, ns, '--interval', '1h', '--webhook-port', String(port), '--metrics-port', String(metricsPort)), { KGITOPS_WEBHOOK_SECRET: secret });
      try {
        await waitFor(async () => (await cluster.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' }))?.data?.v === '1' || undefined, { timeoutMs: 60_000 });
        // Rewrite history: amend the commit (a force-push), then tell the engine.
        repo.git('commit', '-q', '--amend', '-m', 'rewritten');
        const rewritten = repo.commit({ namespace: ns, objects: [configMap('a', { v: '2' })] }, 'after rewrite');
        const body = JSON.stringify({ ref: 'refs/heads/main', after: rewritten });
        const started = Date.now();
        const res = await fetch(`http://127.0.0.1:${port}/hooks/generic`, {
          method: 'POST', body,
          headers: { 'Content-Type': 'application/json', 'X-Signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` },
        });
        expect(res.status).toBe(202);
        await waitFor(async () => (await cluster.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' }))?.data?.v === '2' || undefined, { timeoutMs: 30_000, intervalMs: 50 });
        expect(Date.now() - started).toBeLessThan(30_000); // the interval is an hour: only the webhook explains this
        // The parent's history is written after the objects: wait for it rather than race it.
        const state = await waitFor(async () => {
          const s = readParent(await cluster.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: parentName('shop') }));
          return s.data.history[0]?.commit === rewritten ? s : undefined;
        }, { timeoutMs: 10_000, intervalMs: 50 });
        expect(state.data.history[0]).toMatchObject({ commit: rewritten, result: 'Succeeded', historyRewritten: true });
        // A request with a bad signature is refused.
        const bad = await fetch(`http://127.0.0.1:${port}/hooks/generic`, { method: 'POST', body, headers: { 'X-Signature-256': 'sha256=00' } });
        expect(bad.status).toBe(401);
        // The single-app engine's /metrics: its reconciles (by app and result), synths and fetches,
        // API requests by verb and resource, the app by sync state and health; /readyz says ready.
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        const value = (name: string, labels: string[]) => text.split('\n')
          .filter((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x))).reduce((a, l) => a + Number(l.split(' ').at(-1)), 0);
        expect(value('kgitops_reconcile_duration_seconds_count', ['app="shop"', 'result="Succeeded"'])).toBeGreaterThanOrEqual(2);
        expect(value('kgitops_synth_duration_seconds_count', ['app="shop"'])).toBeGreaterThanOrEqual(2);
        expect(value('kgitops_api_requests_total', ['verb="patch"', 'code="200"', 'resource="configmaps"'])).toBeGreaterThan(0);
        expect(value('kgitops_apps', ['sync="Synced"', 'health="Current"'])).toBe(1);
        expect((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status).toBe(200);
      } finally {
        engine.child.kill('SIGTERM');
        await engine.exit;
      }
      repo.remove();
    }), 180_000);
});

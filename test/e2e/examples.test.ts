/**
 * The examples repo, synced onto the level (b) control plane as `kgitops sync --once` does: the
 * engine's reconciler synthesizes examples/ in the sandbox, dry-runs and applies every object to
 * the real apiserver with Kruise's webhooks, and then every workload must become Current as the
 * engine judges health. The simulated cluster accepted a UnitedDeployment the real one rejected
 * (cloneSetTemplate.spec.selector missing); this is the test that would have caught it.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { gitSource } from '../../engine/cli/sync.js';
import { KubeCluster } from '../../engine/cluster/kube.js';
import type { KubeObject } from '../../engine/cluster/types.js';
import { realClock } from '../../engine/clock.js';
import { loadConfig } from '../../engine/config.js';
import { assessHealth } from '../../engine/health/index.js';
import { createLogger } from '../../engine/log.js';
import { Reconciler } from '../../engine/reconciler.js';
import { ReleaseController } from '../../engine/release/controller.js';
import { deleteNamespace, kubeconfigPath, waitFor, withNamespace } from '../cluster/harness.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-e2e-examples-cache-'));
afterAll(() => rmSync(CACHE, { recursive: true, force: true }));

/** A git repo holding a copy of this checkout's examples/ (uncommitted changes included). */
function examplesRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kgitops-e2e-examples-'));
  cpSync(EXAMPLES, dir, { recursive: true, filter: (src) => !/\/(dist|node_modules)(\/|$)/.test(src) });
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=e2e', '-c', 'user.email=e2e@localhost', ...args], { cwd: dir });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'examples');
  return dir;
}

/**
 * Volumes for zookeeper's claims (10Gi, ReadWriteOnce, no storage class): the control plane has
 * no provisioner, and a pod whose claim stays unbound is never scheduled.
 */
function zookeeperVolumes(prefix: string): KubeObject[] {
  return [0, 1, 2].map((i) => ({
    apiVersion: 'v1', kind: 'PersistentVolume',
    metadata: { name: `${prefix}-zk-${i}`, labels: { 'kgitops.test/examples': prefix } },
    spec: { capacity: { storage: '10Gi' }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Delete', hostPath: { path: `/tmp/${prefix}-zk-${i}` } },
  }));
}

describe('the examples on the real apiserver with Kruise', () => {
  it('kgitops sync applies every object of examples/ and every workload becomes Current', () =>
    withNamespace(async (ns) => {
      const repo = examplesRepo();
      const cluster = KubeCluster.load({ kubeconfig: kubeconfigPath() });
      const config = loadConfig({ repo, app: 'examples', namespace: ns, cacheDir: CACHE });
      const log = createLogger({ level: 'silent' });
      const releases = new ReleaseController({ cluster, clock: realClock, log });
      const reconciler = new Reconciler(config, cluster, gitSource(config), realClock, log, releases);
      const volumes = zookeeperVolumes(ns);
      try {
        for (const pv of volumes) await cluster.apply(pv, { fieldManager: 'kgitops-e2e' });

        const result = await reconciler.reconcile();
        expect({ result: result.result, message: result.message, errors: result.errors, notWritten: result.notWritten }).toMatchObject({ result: 'Succeeded', errors: [] });
        const kinds = result.objects.map((o) => o.kind).sort();
        // Every kind the DSL writes is among them.
        expect(kinds).toEqual(expect.arrayContaining(['AdvancedCronJob', 'BroadcastJob', 'CloneSet', 'DaemonSet', 'SidecarSet', 'StatefulSet', 'UnitedDeployment']));

        // Health as the engine judges it, from what the apiserver and kruise-manager report.
        const healthOf = async () => Promise.all(result.objects.map(async (o) => {
          const live = await cluster.get({ apiVersion: o.apiVersion, kind: o.kind, name: o.name, ...(o.namespace ? { namespace: o.namespace } : {}) });
          return { id: o.id, ...assessHealth(live) };
        }));
        let last: Awaited<ReturnType<typeof healthOf>> = [];
        await waitFor(async () => {
          last = await healthOf();
          return last.every((h) => h.status === 'Current');
        }, { timeoutMs: 150_000, intervalMs: 1000 }).catch((e: Error) => {
          throw new Error(`${e.message}\nnot Current: ${JSON.stringify(last.filter((h) => h.status !== 'Current'), null, 2)}`);
        });

        // The cart is spread over the three zones as the UnitedDeployment says: 3 pods per zone,
        // each on a node of its zone, each with the logging sidecar injected.
        const cart = (await cluster.get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'UnitedDeployment', namespace: 'shop', name: 'cart' }))!;
        expect(cart.status.subsetReplicas).toEqual({ 'zone-a': 3, 'zone-b': 3, 'zone-c': 3 });
        // Untainted nodes only: the partition table's DaemonSet test adds tainted ones for a while.
        const nodes = new Map((await cluster.list('v1', 'Node')).items.filter((n) => !n.spec?.taints?.length).map((n) => [n.metadata.name, n.metadata.labels?.['topology.kubernetes.io/zone']]));
        const cartPods = (await cluster.list('v1', 'Pod', { namespace: 'shop', labelSelector: 'app=cart' })).items.filter((p) => !p.metadata.deletionTimestamp);
        expect(cartPods).toHaveLength(9);
        for (const p of cartPods) {
          expect(nodes.get(p.spec.nodeName), p.metadata.name).toBe(p.metadata.labels?.['apps.kruise.io/subset-name']);
          expect(p.spec.containers.map((c: { name: string }) => c.name)).toContain('log-shipper');
        }
        // The storefront's pods are protected by its PodUnavailableBudget, and got their sidecar too.
        const storefront = (await cluster.list('v1', 'Pod', { namespace: 'shop', labelSelector: 'app=storefront' })).items;
        expect(storefront.filter((p) => p.spec.containers.some((c: { name: string }) => c.name === 'log-shipper'))).toHaveLength(10);
        // The image pre-warm BroadcastJob ran on every node.
        const prewarm = (await cluster.get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'BroadcastJob', namespace: 'platform', name: 'storefront-image-prewarm' }))!;
        expect(prewarm.status).toMatchObject({ phase: 'completed', desired: nodes.size, succeeded: nodes.size });

        // A second reconcile of the same commit finds nothing to do.
        const again = await reconciler.reconcile();
        expect(again.result).toBe('NoChange');

        // A new node-agent image applies (its release then starts): kruise-manager empties the
        // managedFields of every Advanced DaemonSet it reconciles, so git's fields are owned by
        // "before-first-apply" and a plain apply conflicts with that non-manager.
        const platform = join(repo, 'lib', 'platform.ts');
        writeFileSync(platform, readFileSync(platform, 'utf8').replace('node-agent:5.2.0', 'node-agent:5.2.1'));
        execFileSync('git', ['-c', 'user.name=e2e', '-c', 'user.email=e2e@localhost', 'commit', '-qam', 'node-agent 5.2.1'], { cwd: repo });
        const bumped = await reconciler.reconcile();
        expect({ result: bumped.result, errors: bumped.errors }).toMatchObject({ result: 'Succeeded', errors: [] });
        expect(bumped.drift).toEqual([]);
        const agent = (await cluster.get({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'DaemonSet', namespace: 'platform', name: 'node-agent' }))!;
        expect(agent.spec.template.spec.containers[0].image).toBe('registry.example.com/platform/node-agent:5.2.1');
      } finally {
        releases.stop();
        reconciler.close();
        await cluster.delete({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'SidecarSet', name: 'shop-logging' }).catch(() => {});
        await Promise.all(['shop', 'platform'].map((n) => deleteNamespace(n, { wait: true }).catch(() => {})));
        for (const pv of volumes) await cluster.delete({ apiVersion: 'v1', kind: 'PersistentVolume', name: pv.metadata.name }).catch(() => {});
        rmSync(repo, { recursive: true, force: true });
      }
    }), 300_000);
});

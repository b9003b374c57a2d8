/**
 * One App's fleet (engine/fleet/runner.ts) over simulated clusters: a management cluster with
 * the cluster Secrets and the App, and two workload clusters. The same runner runs against real
 * control planes in test/e2e/fleet.test.ts; this checks its bookkeeping fast.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gitSource } from '../../../engine/cli/sync.js';
import { SimCluster } from '../../../engine/cluster/sim/index.js';
import type { Cluster, KubeObject } from '../../../engine/cluster/types.js';
import { realClock } from '../../../engine/clock.js';
import { loadConfig } from '../../../engine/config.js';
import { APP_API_VERSION, APP_KIND, type AppObject, appCrd } from '../../../engine/controller/app-resource.js';
import { LABEL_CLUSTER } from '../../../engine/fleet/clusters.js';
import { FleetRunner, type FleetStatus } from '../../../engine/fleet/runner.js';
import { ANNOTATION_FLEET_COMMANDS, type FleetCommand } from '../../../engine/fleet/state.js';
import { createLogger } from '../../../engine/log.js';
import type { EventOut } from '../../../engine/release/machine.js';
import { configMap, GitApp } from '../../fixtures/git-app.js';

const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-fleet-cache-'));
const cleanup: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanup) c();
  rmSync(CACHE, { recursive: true, force: true });
});

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:1' } }]
users: [{ name: u, user: { token: not-used } }]
contexts: [{ name: c, context: { cluster: c, user: u } }]
current-context: c
`;

const plan = (gates: unknown[] = [{ type: 'approval' }]) => ({
  apiVersion: 'kgitops.io/v1alpha1', kind: 'FleetPlan', metadata: { name: 'fleet' },
  spec: { version: 1, waves: [{ name: 'staging', clusters: { matchLabels: { env: 'staging' } }, gates: [] }, { name: 'prod', clusters: { matchLabels: { env: 'prod' } }, gates }] },
});

async function setup() {
  const repo = new GitApp();
  const management = new SimCluster({ clock: realClock, namespaces: ['default', 'kgitops-system', 'shop'] });
  const workload = { staging: new SimCluster({ clock: realClock, namespaces: ['default', 'shop'] }), prod: new SimCluster({ clock: realClock, namespaces: ['default', 'shop'] }) };
  cleanup.push(() => repo.remove(), () => management.stop(), () => workload.staging.stop(), () => workload.prod.stop());
  await management.apply(appCrd() as unknown as KubeObject, { fieldManager: 'test' });
  for (const [name, env] of [['staging', 'staging'], ['prod', 'prod']] as const) {
    await management.apply({
      apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'kgitops-system', labels: { [LABEL_CLUSTER]: 'true', env } },
      data: { kubeconfig: Buffer.from(KUBECONFIG).toString('base64') },
    } as unknown as KubeObject, { fieldManager: 'test' });
  }
  await management.apply({ apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: 'shop', namespace: 'shop' }, spec: { source: { repo: repo.dir } } } as unknown as KubeObject, { fieldManager: 'test' });
  const readApp = async () => (await management.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: 'shop', name: 'shop' })) as unknown as AppObject;
  let app = await readApp();
  const config = loadConfig({ repo: repo.dir, app: 'shop', namespace: 'shop', cacheDir: CACHE, typecheck: false });
  const events: EventOut[] = [];
  const down = new Set<string>();
  const source = gitSource(config);
  const runner = new FleetRunner({
    key: 'shop/shop', app: () => app, config, source, management, namespace: 'kgitops-system',
    connect: (c) => {
      const sim = workload[c.name as 'staging' | 'prod'] as unknown as Cluster;
      // A cluster "down": every request fails as a refused connection does.
      return new Proxy(sim, { get: (t, p, r) => (typeof (t as any)[p] === 'function' ? (...args: unknown[]) => (down.has(c.name) ? Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })) : (t as any)[p](...args)) : Reflect.get(t, p, r)) });
    },
    clock: realClock, log: createLogger({ level: 'silent' }), event: async (e) => { events.push(e); }, requestReconcile: () => {},
  });
  cleanup.push(() => runner.close());
  /** One pass at `head`, whose render holds `fleet` (as the controller reads it). */
  const pass = async (head: string, fleet: ReturnType<typeof plan> = plan()) => {
    await source.fetch(); // the controller fetched the head (and rendered it) before
    const r = await runner.run(head, fleet.spec as never);
    app = await readApp();
    return r;
  };
  const command = async (c: Omit<FleetCommand, 'at' | 'by'>) => {
    const list = JSON.parse(app.metadata.annotations?.[ANNOTATION_FLEET_COMMANDS] ?? '[]') as FleetCommand[];
    await management.apply({ apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: 'shop', namespace: 'shop', annotations: { [ANNOTATION_FLEET_COMMANDS]: JSON.stringify([...list, { ...c, by: 'alice@example.com', at: new Date().toISOString() }]) } } } as unknown as KubeObject, { fieldManager: 'kgitops-cli' });
    app = await readApp();
  };
  const value = async (name: 'staging' | 'prod') => (await workload[name].get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'a' }))?.data?.v;
  return { repo, runner, pass, command, value, events, down, app: () => app };
}

describe('a fleet over simulated clusters', () => {
  it('promotes a commit to staging, to prod after an approval; a newer one waits there again; abort rolls staging back', async () => {
    const { repo, pass, command, value, events, app } = await setup();
    const x = repo.commit({ namespace: 'shop', objects: [plan(), configMap('a', { v: '1' })] }, 'x');
    // One pass goes as far as it can: staging applied and healthy (a ConfigMap is at once), so
    // its wave is done; prod waits for an approval and gets nothing.
    let r = await pass(x);
    expect(r.state.pause?.reason, JSON.stringify(r.status.clusters)).toBeUndefined();
    expect(r.state).toMatchObject({ commit: x, phase: 'Progressing', wave: 1, targets: { staging: x } });
    expect(await value('staging')).toBe('1');
    expect(await value('prod')).toBeUndefined();
    expect(r.status.clusters.map((c) => [c.name, c.wave, c.target?.slice(0, 7), c.commit?.slice(0, 7)])).toEqual([['prod', 'prod', undefined, undefined], ['staging', 'staging', x.slice(0, 7), x.slice(0, 7)]]);
    expect((app().status as { fleet?: FleetStatus }).fleet?.release.waves[1]!.gates['1/0']).toMatchObject({ status: 'Pending', message: 'waiting for approval of wave 2/2 (prod): kgitops approve <app> --wave 2' });
    // Another pass without an approval changes nothing.
    expect((await pass(x)).state.targets).toEqual({ staging: x });
    await command({ action: 'approve', release: r.state.id, wave: 1 });
    r = await pass(x);
    expect(await value('prod')).toBe('1');
    expect(r.state.phase).toBe('Completed');
    expect(events.map((e) => e.reason)).toEqual(['FleetStarted', 'FleetWaveStarted', 'FleetWaveCompleted', 'FleetWaveStarted', 'FleetWaveCompleted', 'FleetCompleted']);

    // A newer commit: staging gets it, prod keeps x until approved again.
    const y = repo.commit({ namespace: 'shop', objects: [plan(), configMap('a', { v: '2' })] }, 'y');
    r = await pass(y);
    expect(await value('staging')).toBe('2');
    expect(await value('prod')).toBe('1');
    expect(r.state).toMatchObject({ commit: y, wave: 1, previous: { staging: x, prod: x } });
    // Abort: staging goes back to x.
    await command({ action: 'abort', release: r.state.id });
    r = await pass(y);
    expect(r.state.phase).toBe('Aborted');
    expect(r.state.targets).toEqual({ staging: x, prod: x });
    expect(await value('staging')).toBe('1');
    // It stays aborted until a new commit.
    expect((await pass(y)).state.phase).toBe('Aborted');
  }, 120_000);

  it('a cluster that does not answer holds its wave only; it carries on once it answers', async () => {
    const { repo, pass, value, down } = await setup();
    const open = plan([]);
    const x = repo.commit({ namespace: 'shop', objects: [open, configMap('a', { v: '1' })] }, 'x');
    down.add('prod');
    let r = await pass(x, open);
    expect(r.state).toMatchObject({ wave: 1, phase: 'Progressing', targets: { staging: x, prod: x } });
    expect(r.status.clusters.find((c) => c.name === 'prod')).toMatchObject({ reachable: false, waitingOn: expect.stringMatching(/^unreachable: /) });
    expect(await value('staging')).toBe('1');
    down.delete('prod');
    r = await pass(x, open);
    expect(r.state.phase).toBe('Completed');
    expect(await value('prod')).toBe('1');
  }, 120_000);
});

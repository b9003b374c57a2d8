/**
 * High availability on the real apiserver and kruise-manager: three `kgitops controller`
 * processes share six Apps in three shards (Leases). The replica holding the App whose CloneSet
 * is being released is killed with SIGKILL in the middle of the release; another replica takes
 * its shard within the lease duration and finishes the release with the invariants of the
 * fault-injection test (no step repeated or skipped, the partition only moving forward).
 *
 * Who wrote what comes from the apiserver's audit log (the replicas connect as an audited user
 * and name themselves in their user agent): every write for an App was made by the replica
 * that held the App's shard Lease at that moment, as the Lease's own audited writes say.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { cloneSetPartitionKeep } from '../../dsl/arithmetic.js';
import { KubeCluster } from '../../engine/cluster/kube.js';
import type { KubeObject } from '../../engine/cluster/types.js';
import { APP_API_VERSION, APP_KIND, type AppObject, appCrd } from '../../engine/controller/app-resource.js';
import { shardOf } from '../../engine/controller/shards.js';
import { ANNOTATION_RELEASE_STATE, parseReleaseState, type ReleaseState } from '../../engine/release/state.js';
import { auditedKubeconfigPath, auditLogPath, kubeconfigPath, waitFor, withNamespace } from '../cluster/harness.js';
import { git, initRepo } from '../fixtures/git.js';
import { runKgitops } from '../fixtures/cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = mkdtempSync(join(tmpdir(), 'kgitops-ha-cache-'));
afterAll(() => rmSync(CACHE, { recursive: true, force: true }));

const SHARDS = 3;
const REPLICAS = 5;
const APPS = ['web', 'a1', 'a2', 'a3', 'a4', 'a5'];

const CONFIG_MAIN = `import { readFileSync } from 'node:fs';
import { ApiObject, Chart } from 'cdk8s';
import { App } from 'kruise-gitops';
const p = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: p.namespace });
new ApiObject(chart, 'settings', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: p.name + '-settings' }, data: { v: p.v } });
app.synth();
`;

const WEB_MAIN = `import { readFileSync } from 'node:fs';
import { Chart, Duration } from 'cdk8s';
import { App, CloneSet, CloneSetUpdateStrategy, Gate, Release, Step } from 'kruise-gitops';
const p = JSON.parse(readFileSync(new URL('./objects.json', import.meta.url), 'utf8'));
const app = new App();
const chart = new Chart(app, 'app', { namespace: p.namespace });
new CloneSet(chart, 'web', {
  metadata: { name: 'web' }, replicas: ${REPLICAS}, podMetadata: { labels: { app: 'web' } },
  updateStrategy: CloneSetUpdateStrategy.reCreate({ maxUnavailable: '40%' }),
  release: Release.steps(
    Step.to('20%').gate(Gate.podsReady(), Gate.bake(Duration.seconds(4))),
    Step.to('60%').gate(Gate.podsReady(), Gate.bake(Duration.seconds(4))),
    Step.to('100%').gate(Gate.podsReady()),
  ),
  containers: [{ name: 'main', image: p.image, securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: false } }],
});
app.synth();
`;

interface AuditEvent {
  verb: string;
  requestURI: string;
  user: { username: string };
  userAgent?: string;
  objectRef?: { resource?: string; namespace?: string; name?: string; apiGroup?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp: string;
  stageTimestamp: string;
  stage: string;
}

it('three replicas, three shards: the holder of a release\'s App is killed mid-release; another takes it within the lease duration, and every write came from the shard\'s holder', () =>
  withNamespace(async (ns) => {
    const admin = KubeCluster.load({ kubeconfig: kubeconfigPath() });
    await admin.apply(appCrd() as KubeObject, { fieldManager: 'test' });
    await waitFor(async () => admin.resource(APP_API_VERSION, APP_KIND).then(() => true, () => { admin.invalidateDiscovery(); return false; }), { message: 'the App CRD to be served' });
    const repoDir = mkdtempSync(join(tmpdir(), 'kgitops-ha-repo-'));
    initRepo(repoDir);
    const write = (name: string, p: Record<string, unknown>) => {
      mkdirSync(join(repoDir, 'apps', name), { recursive: true });
      writeFileSync(join(repoDir, 'apps', name, 'cdk8s.yaml'), 'app: npx tsx main.ts\n');
      writeFileSync(join(repoDir, 'apps', name, 'main.ts'), name === 'web' ? WEB_MAIN : CONFIG_MAIN);
      writeFileSync(join(repoDir, 'apps', name, 'objects.json'), JSON.stringify({ namespace: ns, name, ...p }));
    };
    const commit = (m: string) => { git(repoDir, 'add', '-A'); git(repoDir, 'commit', '-q', '-m', m); return git(repoDir, 'rev-parse', 'HEAD'); };
    for (const a of APPS) write(a, a === 'web' ? { image: 'nginx:1.25.0' } : { v: '1' });
    commit('six apps');

    const procs = new Map<string, ChildProcess>();
    const logs = new Map<string, string>();
    // r0 also serves push webhooks: a push for Apps of other replicas is passed on to them.
    const hookPort = 20_000 + Math.floor(Math.random() * 20_000);
    const secret = 'ha-test-webhook-secret';
    const start = (id: string) => {
      const child = spawn(process.execPath, [join(ROOT, 'bin/kgitops.mjs'), 'controller', '--kubeconfig', auditedKubeconfigPath(), '-n', ns,
        '--shards', String(SHARDS), '--lease-namespace', ns, '--replica-id', id, '--allow-local-repos', '--allow-controller-identity',
        '--no-typecheck', '--concurrency', '2', '--cache-dir', join(CACHE, id), '--log-format', 'json',
        ...(id === 'r0' ? ['--webhook-port', String(hookPort)] : [])], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, KGITOPS_WEBHOOK_SECRET: secret } });
      logs.set(id, '');
      child.stderr!.on('data', (d: Buffer) => { const s = logs.get(id)!; if (s.length < 2_000_000) logs.set(id, s + d.toString()); });
      procs.set(id, child);
    };
    const appOf = async (name: string) => (await admin.get({ apiVersion: APP_API_VERSION, kind: APP_KIND, namespace: ns, name })) as unknown as AppObject | undefined;
    const web = { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', namespace: ns, name: 'web' };
    const stateOf = (o: KubeObject | undefined): ReleaseState | undefined => parseReleaseState(o?.metadata.annotations?.[ANNOTATION_RELEASE_STATE]);
    const versions: KubeObject[] = [];
    let watch: { stop(): void } | undefined;
    try {
      for (const id of ['r0', 'r1', 'r2']) start(id);
      for (const a of APPS) {
        await admin.apply({
          apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: a, namespace: ns },
          // No polling to speak of: the push is what brings the next commit.
          spec: { source: { repo: repoDir, path: `apps/${a}`, interval: '1h' } },
        } as KubeObject, { fieldManager: 'test' });
      }
      const t0 = Date.now();
      await waitFor(async () => {
        for (const a of APPS) if ((await appOf(a))?.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True') return undefined;
        return true;
      }, { timeoutMs: 180_000, intervalMs: 1000, message: 'every App Ready' });
      const readyMs = Date.now() - t0;
      // Every App says which replica holds it; the three replicas share the shards.
      const holders = await Promise.all(APPS.map(async (a) => (await appOf(a))!.status!.heldBy));
      for (const [i, h] of holders.entries()) expect(h?.shard, APPS[i]).toBe(shardOf(`${ns}/${APPS[i]}`, SHARDS));
      expect(new Set(holders.map((h) => h!.replica)).size).toBeGreaterThan(1);
      const listed = await runKgitops(ROOT, ['status', '--kubeconfig', kubeconfigPath(), '-n', ns]);
      expect(listed.stdout).toMatch(/REPLICA/);
      expect(listed.stdout).toContain(`${holders[0]!.replica} (shard ${holders[0]!.shard})`);

      const rv = (await admin.list(web.apiVersion, web.kind, { namespace: ns })).resourceVersion;
      watch = await admin.watch(web.apiVersion, web.kind, { namespace: ns, resourceVersion: rv }, (e) => { if (e.object.metadata.name === 'web') versions.push(e.object); });
      // Each App's status says what its render read outside its path, at which commit: r0 judges
      // by it which of the other replicas' Apps a push touches.
      for (const a of APPS) {
        const st = (await appOf(a))!.status!;
        expect(st.dependencies?.commit, a).toBe(st.appliedCommit);
      }
      write('web', { image: 'nginx:1.25.1' });
      write('a1', { v: '2' });
      const pushed = commit('web 1.25.1, a1 v2');
      const body = JSON.stringify({ ref: 'refs/heads/main', after: pushed, repository: repoDir });
      const sig = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
      const hook = await fetch(`http://127.0.0.1:${hookPort}/hooks/generic`, { method: 'POST', body, headers: { 'Content-Type': 'application/json', 'X-Signature-256': sig } });
      expect(hook.status).toBe(202);
      // Every App, whichever replica holds it, moves to the pushed commit.
      await waitFor(async () => {
        for (const a of APPS) if ((await appOf(a))?.status?.appliedCommit !== pushed) return undefined;
        return true;
      }, { timeoutMs: 60_000, intervalMs: 500, message: 'every App at the pushed commit' });
      // Mid-release (step 1 reached), kill web's holder.
      await waitFor(async () => ((stateOf(await admin.get(web))?.step ?? 0) >= 1 ? true : undefined), { timeoutMs: 90_000, intervalMs: 250, message: 'the release at step 2' });
      const victim = (await appOf('web'))!.status!.heldBy!.replica;
      procs.get(victim)!.kill('SIGKILL');
      const killedAt = Date.now();
      const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: ns, name: `kgitops-shard-${shardOf(`${ns}/web`, SHARDS)}` };
      const leaseTaken = await waitFor(async () => {
        const h = (await admin.get(lease))?.spec?.holderIdentity;
        return h && h !== victim ? Date.now() : undefined;
      }, { timeoutMs: 60_000, intervalMs: 100, message: 'the shard Lease taken by another replica' });
      const takenOver = await waitFor(async () => {
        const h = (await appOf('web'))?.status;
        // The new holder says so in the status once it has reconciled the App.
        return h?.heldBy && h.heldBy.replica !== victim ? Date.now() : undefined;
      }, { timeoutMs: 60_000, intervalMs: 250, message: 'web reconciled by another replica' });
      const handOverMs = takenOver - killedAt;
      console.log(`HA: every App Ready ${(readyMs / 1000).toFixed(1)} s after they were declared; web's shard Lease taken ${((leaseTaken - killedAt) / 1000).toFixed(1)} s and its App reconciled again ${(handOverMs / 1000).toFixed(1)} s after its replica was killed`);
      // The Lease: at most its duration after the last renewal, plus a retry period or two.
      expect(leaseTaken - killedAt).toBeLessThan(15_000 + 2 * 2_000);
      expect(handOverMs).toBeLessThan(15_000 + 10_000);
      await waitFor(async () => (stateOf(await admin.get(web))?.phase === 'Completed' ? true : undefined), { timeoutMs: 120_000, intervalMs: 500, message: 'the release completed' });
      watch.stop();

      // The release's invariants across the hand-over.
      const id = stateOf(versions.at(-1))!.id;
      const seen = versions.filter((o) => stateOf(o)?.id === id);
      const history = stateOf(seen.at(-1))!.history;
      expect(history.filter((h) => h.reason === 'ReleaseStepAdvanced').map((h) => h.step)).toEqual([1, 2]);
      expect(history.filter((h) => h.reason === 'ReleaseCompleted')).toHaveLength(1);
      const kept = seen.map((o) => cloneSetPartitionKeep(o.spec.updateStrategy.partition ?? 0, REPLICAS));
      for (let i = 1; i < kept.length; i++) expect(kept[i], `at version ${i}`).toBeLessThanOrEqual(kept[i - 1]);

      // The holder behind every write, from the audit log.
      const events = readFileSync(auditLogPath(), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent)
        .filter((e) => e.stage === 'ResponseComplete' && e.objectRef?.namespace === ns && (e.responseStatus?.code ?? 0) < 300);
      const replicaOf = (e: AuditEvent) => /\((r\d)\)/.exec(e.userAgent ?? '')?.[1];
      // Each shard's successful Lease writes, in order: [time, replica]. A write with holder '' (a
      // release) is not distinguishable here; it is followed by the next holder's write anyway.
      const leaseWrites = new Map<number, { at: number; replica: string }[]>();
      for (const e of events) {
        const m = e.objectRef?.resource === 'leases' ? /^kgitops-shard-(\d+)$/.exec(e.objectRef.name ?? '') : null;
        if (!m || e.verb !== 'patch') continue;
        const list = leaseWrites.get(Number(m[1])) ?? [];
        list.push({ at: Date.parse(e.stageTimestamp), replica: replicaOf(e)! });
        leaseWrites.set(Number(m[1]), list);
      }
      const appOfWrite = (e: AuditEvent): string | undefined => {
        const r = e.objectRef!;
        if (r.resource === 'apps' && r.apiGroup === 'kgitops.io') return r.name;
        if (r.resource === 'configmaps' && r.name?.endsWith('-settings')) return r.name.slice(0, -'-settings'.length);
        if (r.resource === 'clonesets' && r.name === 'web') return 'web';
        return undefined;
      };
      let checked = 0;
      const byReplica = new Map<string, number>();
      // A push that reached r0 was passed on to the other replicas' Apps (an annotation, not a reconcile).
      const forwarded = events.filter((e) => e.requestURI.includes('fieldManager=kgitops-webhook'));
      expect(forwarded.length).toBeGreaterThan(0);
      // ...first to the Apps the push touched, then, a few seconds later, to the rest.
      const touchedByPush = new Set(['web', 'a1']);
      const forwardedAt = (touched: boolean) => forwarded.filter((e) => touchedByPush.has(e.objectRef!.name!) === touched).map((e) => Date.parse(e.requestReceivedTimestamp));
      if (forwardedAt(true).length && forwardedAt(false).length) expect(Math.max(...forwardedAt(true))).toBeLessThan(Math.min(...forwardedAt(false)) - 2_000);
      for (const e of events) {
        if (forwarded.includes(e)) continue;
        const app = appOfWrite(e);
        const replica = replicaOf(e);
        if (!app || !replica) continue;
        const at = Date.parse(e.requestReceivedTimestamp);
        const shard = shardOf(`${ns}/${app}`, SHARDS);
        const before = (leaseWrites.get(shard) ?? []).filter((w) => w.at <= at);
        expect(before.at(-1)?.replica, `${e.verb} ${e.objectRef!.resource}/${e.objectRef!.name} by ${replica} at ${e.requestReceivedTimestamp}: shard ${shard}'s last Lease write was by ${before.at(-1)?.replica}`).toBe(replica);
        checked++;
        byReplica.set(replica, (byReplica.get(replica) ?? 0) + 1);
      }
      expect(checked).toBeGreaterThan(20);
      expect(byReplica.size).toBeGreaterThan(1);
      // The hand-over wrote web's objects from another replica.
      expect(events.some((e) => appOfWrite(e) === 'web' && replicaOf(e) !== victim && Date.parse(e.requestReceivedTimestamp) > killedAt)).toBe(true);
    } catch (e) {
      for (const [id, l] of logs) console.error(`--- ${id}\n${l.split('\n').slice(-40).join('\n')}`);
      throw e;
    } finally {
      watch?.stop();
      for (const p of procs.values()) p.kill('SIGKILL');
      for (const a of APPS) {
        await admin.apply({ apiVersion: APP_API_VERSION, kind: APP_KIND, metadata: { name: a, namespace: ns, finalizers: [] } } as KubeObject, { fieldManager: 'kgitops-finalizer' }).catch(() => {});
      }
      rmSync(repoDir, { recursive: true, force: true });
    }
  }), 420_000);

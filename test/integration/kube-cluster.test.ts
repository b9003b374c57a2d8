/**
 * KubeCluster against the real kube-apiserver: discovery, server-side apply and its conflicts,
 * lists, watches, deletes, Events, and every API failure the engine must handle deliberately
 * (401/403 with a real ServiceAccount token, 404 for a kind that is not served, 409, and
 * 429/5xx injected by a proxy in front of the real apiserver).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConflictError, ForbiddenError, NotServedError, TransientError, UnauthorizedError,
} from '../../engine/cluster/errors.js';
import { KubeCluster } from '../../engine/cluster/kube.js';
import type { WatchEvent } from '../../engine/cluster/types.js';
import { kubeConfig, kubeconfigPath, waitFor, withNamespace } from '../cluster/harness.js';

const cluster = () => KubeCluster.load({ kubeconfig: kubeconfigPath() });
const cm = (ns: string, name: string, data: Record<string, string>, labels?: Record<string, string>) => ({
  apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, ...(labels ? { labels } : {}) }, data,
});

describe('KubeCluster on a real apiserver', () => {
  it('discovers core and Kruise kinds, and says which Kruise version is served when one is not', async () => {
    const c = cluster();
    expect(await c.resource('apps.kruise.io/v1alpha1', 'CloneSet')).toEqual({ apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', plural: 'clonesets', namespaced: true });
    expect((await c.resource('apps.kruise.io/v1alpha1', 'SidecarSet')).namespaced).toBe(false);
    const e = await c.resource('apps.kruise.io/v1beta1', 'CloneSet').catch((x) => x);
    expect(e).toBeInstanceOf(NotServedError);
    expect(e.message).toBe('OpenKruise is not installed or too old: apps.kruise.io/v1beta1 CloneSet is not served');
    expect(e.hint).toBe('the cluster serves CloneSet as apps.kruise.io/v1alpha1');
    const missing = await c.resource('rollouts.kruise.io/v1beta1', 'Rollout').catch((x) => x);
    expect(missing).toBeInstanceOf(NotServedError);
  });

  it('applies, dry-runs, reads, lists by label, and deletes', () =>
    withNamespace(async (ns) => {
      const c = cluster();
      const dry = await c.apply(cm(ns, 'a', { k: '1' }), { fieldManager: 'kgitops', dryRun: true });
      expect(dry.data).toEqual({ k: '1' });
      expect(await c.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' })).toBeUndefined();
      await c.apply(cm(ns, 'a', { k: '1' }, { team: 'shop' }), { fieldManager: 'kgitops' });
      await c.apply(cm(ns, 'b', { k: '2' }, { team: 'cart' }), { fieldManager: 'kgitops' });
      const listed = await c.list('v1', 'ConfigMap', { namespace: ns, labelSelector: 'team in (shop)' });
      expect(listed.items.map((i) => i.metadata.name)).toEqual(['a']);
      expect(listed.items[0].kind).toBe('ConfigMap');
      expect(await c.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' })).toBe(true);
      expect(await c.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'a' })).toBe(false);
    }));

  it('reports an apply conflict naming the other field manager and the field', () =>
    withNamespace(async (ns) => {
      const c = cluster();
      await c.apply(cm(ns, 'x', { owner: 'git' }), { fieldManager: 'kgitops' });
      const e = await c.apply(cm(ns, 'x', { owner: 'someone' }), { fieldManager: 'helm' }).catch((x) => x);
      expect(e).toBeInstanceOf(ConflictError);
      expect(e.conflicts).toEqual([{ field: '.data.owner', manager: 'kgitops' }]);
      expect(e.message).toBe(`apply conflict on patch configmaps x in namespace ${ns}: .data.owner is owned by "kgitops"`);
      const forced = await c.apply(cm(ns, 'x', { owner: 'someone' }), { fieldManager: 'helm', force: true });
      expect(forced.data.owner).toBe('someone');
    }));

  it('watches changes from a resourceVersion', () =>
    withNamespace(async (ns) => {
      const c = cluster();
      const { resourceVersion } = await c.list('v1', 'ConfigMap', { namespace: ns });
      const events: WatchEvent[] = [];
      const w = await c.watch('v1', 'ConfigMap', { namespace: ns, resourceVersion }, (e) => events.push(e));
      await c.apply(cm(ns, 'w', { v: '1' }), { fieldManager: 'kgitops' });
      await c.apply(cm(ns, 'w', { v: '2' }), { fieldManager: 'kgitops' });
      await c.delete({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'w' });
      await waitFor(async () => events.some((e) => e.type === 'DELETED') || undefined, { timeoutMs: 10_000 });
      w.stop();
      await w.done;
      // The apiserver may interleave extra MODIFIED events (e.g. metadata-only updates); the order of these three is what matters.
      const seen = events.map((e) => `${e.type} ${e.object.metadata.name} ${e.object.data?.v ?? ''}`);
      expect(seen[0]).toBe('ADDED w 1');
      expect(seen).toContain('MODIFIED w 2');
      expect(seen.indexOf('MODIFIED w 2')).toBeLessThan(seen.indexOf('DELETED w 2'));
      expect(seen.at(-1)).toBe('DELETED w 2');
    }));

  it('records Events on an object', () =>
    withNamespace(async (ns) => {
      const c = cluster();
      const obj = await c.apply(cm(ns, 'e', { v: '1' }), { fieldManager: 'kgitops' });
      await c.event(obj, { type: 'Normal', reason: 'ReleaseStepAdvanced', message: 'step 1 of 3' });
      const events = await c.list('v1', 'Event', { namespace: ns });
      expect(events.items.map((e) => [e.reason, e.involvedObject.name, e.source.component])).toContainEqual(['ReleaseStepAdvanced', 'e', 'kgitops']);
    }));

  it('says which verb on which resource is missing (403), with a real ServiceAccount token', () =>
    withNamespace(async (ns) => {
      const c = cluster();
      await c.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'limited', namespace: ns } }, { fieldManager: 'test' });
      const token = await requestToken(ns, 'limited');
      const limited = clusterWithToken(token);
      const e = await limited.apply(cm(ns, 'x', { a: 'b' }), { fieldManager: 'kgitops' }).catch((x) => x);
      expect(e).toBeInstanceOf(ForbiddenError);
      expect(e.message).toMatch(new RegExp(`^missing permission: patch configmaps x in namespace ${ns} is forbidden \\(403\\): .*cannot patch resource "configmaps"`));
      expect(e.hint).toBe('grant the verb "patch" on configmaps to the engine\'s user (a Role or ClusterRole and a binding)');
      const unauthorized = await clusterWithToken('not-a-token').list('v1', 'ConfigMap', { namespace: ns }).catch((x) => x);
      expect(unauthorized).toBeInstanceOf(UnauthorizedError);
    }));

  describe('through a proxy that injects 429 and 503', () => {
    let proxy: FaultProxy;
    afterAll(() => proxy?.close());

    it('retries 429 (honouring Retry-After) and 503 until the request succeeds', async () => {
      proxy = await FaultProxy.start();
      proxy.inject(/configmaps/, [{ status: 429, retryAfter: 1 }, { status: 503 }, { status: 500 }]);
      const retries: number[] = [];
      const c = new KubeCluster(proxy.kubeConfig(), { retry: { baseDelayMs: 50, onRetry: (e) => retries.push(e.status) } });
      const started = Date.now();
      const list = await c.list('v1', 'ConfigMap', { namespace: 'default' });
      expect(Array.isArray(list.items)).toBe(true);
      expect(retries).toEqual([429, 503, 500]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000); // Retry-After: 1
    });

    it('gives up after the configured attempts with a TransientError', async () => {
      proxy.inject(/configmaps/, Array(5).fill({ status: 503 }));
      const c = new KubeCluster(proxy.kubeConfig(), { retry: { attempts: 3, baseDelayMs: 10 } });
      const e = await c.list('v1', 'ConfigMap', { namespace: 'default' }).catch((x) => x);
      expect(e).toBeInstanceOf(TransientError);
      expect(e.status).toBe(503);
      expect(e.message).toMatch(/^HTTP 503 for list configmaps in namespace default/);
    });
  });
});

async function requestToken(ns: string, sa: string): Promise<string> {
  const kc = kubeConfig();
  const c = new KubeCluster(kc);
  // TokenRequest through the raw client (a subresource create).
  const res = await (c as any).json({
    method: 'POST', path: `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } },
    info: { verb: 'create', resource: 'serviceaccounts/token' },
  });
  return res.status.token as string;
}

function clusterWithToken(token: string): KubeCluster {
  const admin = kubeConfig();
  const server = admin.getCurrentCluster()!;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: server.server, caFile: server.caFile, caData: server.caData, skipTLSVerify: false }],
    users: [{ name: 'u', token }],
    contexts: [{ name: 'limited', cluster: 'c', user: 'u' }],
    currentContext: 'limited',
  });
  return new KubeCluster(kc);
}

/** Plain-HTTP proxy to the real apiserver that answers with injected failures first. */
class FaultProxy {
  private faults: { match: RegExp; status: number; retryAfter?: number }[] = [];
  private constructor(private readonly server: Server, private readonly port: number) {}

  static async start(): Promise<FaultProxy> {
    const admin = kubeConfig();
    const target = new URL(admin.getCurrentCluster()!.server);
    const opts: any = { headers: {} };
    await admin.applyToHTTPSOptions(opts);
    let self: FaultProxy;
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const i = self.faults.findIndex((f) => f.match.test(req.url ?? ''));
      if (i >= 0) {
        const [f] = self.faults.splice(i, 1);
        res.writeHead(f.status, { 'Content-Type': 'application/json', ...(f.retryAfter ? { 'Retry-After': String(f.retryAfter) } : {}) });
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `injected ${f.status}`, code: f.status }));
        return;
      }
      const up = httpsRequest({ ...opts, hostname: target.hostname, port: target.port, path: req.url, method: req.method,
        headers: { ...req.headers, ...opts.headers, host: target.host } }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new FaultProxy(server, (server.address() as AddressInfo).port);
    return self;
  }

  inject(match: RegExp, faults: { status: number; retryAfter?: number }[]): void {
    this.faults.push(...faults.map((f) => ({ match, ...f })));
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'proxy', server: `http://127.0.0.1:${this.port}`, skipTLSVerify: true }],
      users: [{ name: 'anon' }], contexts: [{ name: 'proxy', cluster: 'proxy', user: 'anon' }], currentContext: 'proxy',
    });
    return kc;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** The cluster registry (engine/fleet/clusters.ts): what a cluster Secret may hold, and what is refused. */
import { describe, expect, it } from 'vitest';
import { SimCluster } from '../../../engine/cluster/sim/index.js';
import type { KubeObject } from '../../../engine/cluster/types.js';
import { realClock } from '../../../engine/clock.js';
import { kubeconfigProblem, LABEL_CLUSTER, listClusters, readClusterSecret } from '../../../engine/fleet/clusters.js';

const kubeconfig = (user: Record<string, unknown>, cluster: Record<string, unknown> = { server: 'https://10.0.0.1:6443', 'certificate-authority-data': 'Q0E=' }) => JSON.stringify({
  apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'c', cluster }], users: [{ name: 'u', user }], contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }], 'current-context': 'c',
});
const secret = (name: string, data: Record<string, string>, labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'kgitops-system', labels: { [LABEL_CLUSTER]: 'true', ...labels } },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
} as unknown as KubeObject);

describe('a cluster Secret\'s kubeconfig', () => {
  it('may carry a token or client certificate data, inline', () => {
    expect(kubeconfigProblem(kubeconfig({ token: 'abc' }))).toBeUndefined();
    expect(kubeconfigProblem(kubeconfig({ 'client-certificate-data': 'Y2VydA==', 'client-key-data': 'a2V5' }))).toBeUndefined();
  });

  it('may not run a program or read a file on the controller', () => {
    expect(kubeconfigProblem(kubeconfig({ exec: { command: 'sh', args: ['-c', 'cat /var/run/secrets/kubernetes.io/serviceaccount/token'] } })))
      .toBe('user u: exec runs a program on the controller; use a token (a ServiceAccount\'s) or client certificate data');
    expect(kubeconfigProblem(kubeconfig({ 'auth-provider': { name: 'gcp' } }))).toMatch(/^user u: auth-provider runs code on the controller/);
    expect(kubeconfigProblem(kubeconfig({ tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token' })))
      .toBe('user u: tokenFile names a file on the controller\'s disk; put the credential itself in the kubeconfig (token)');
    expect(kubeconfigProblem(kubeconfig({ 'client-key': '/etc/ssl/key.pem' }))).toMatch(/^user u: client-key names a file .* \(client-key-data\)$/);
    expect(kubeconfigProblem(kubeconfig({ token: 't' }, { server: 'https://x', 'certificate-authority': '/etc/ca.pem' }))).toBe('cluster c: certificate-authority names a file; put the CA in certificate-authority-data');
    expect(kubeconfigProblem('{ not yaml: [')).toMatch(/^the kubeconfig is not YAML/);
  });
});

describe('the registered clusters', () => {
  it('are read with their name and labels; a Secret that cannot be used is a problem, and two of one name are both left out', async () => {
    expect(readClusterSecret(secret('eu-1', { kubeconfig: kubeconfig({ token: 't' }) }, { env: 'prod', region: 'eu' }))).toMatchObject({ name: 'eu-1', labels: { env: 'prod', region: 'eu' }, secret: 'kgitops-system/eu-1' });
    expect(readClusterSecret(secret('x', { kubeconfig: kubeconfig({ token: 't' }), name: 'staging' }))).toMatchObject({ name: 'staging' });
    expect(readClusterSecret(secret('x', {}))).toEqual({ secret: 'kgitops-system/x', message: 'Secret kgitops-system/x has no key kubeconfig' });
    const sim = new SimCluster({ clock: realClock, namespaces: ['default', 'kgitops-system'] });
    try {
      for (const s of [
        secret('eu-1', { kubeconfig: kubeconfig({ token: 't' }) }),
        secret('a', { kubeconfig: kubeconfig({ token: 't' }), name: 'dup' }),
        secret('b', { kubeconfig: kubeconfig({ token: 't' }), name: 'dup' }),
        secret('evil', { kubeconfig: kubeconfig({ exec: { command: 'sh' } }) }),
      ]) await sim.apply(s, { fieldManager: 'test' });
      // Not labelled: not a cluster.
      await sim.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'other', namespace: 'kgitops-system' }, data: {} } as unknown as KubeObject, { fieldManager: 'test' });
      const { clusters, problems } = await listClusters(sim, 'kgitops-system');
      expect(clusters.map((c) => c.name)).toEqual(['eu-1']);
      expect(problems.map((p) => p.message)).toEqual([
        'Secret kgitops-system/evil: user u: exec runs a program on the controller; use a token (a ServiceAccount\'s) or client certificate data',
        '2 Secrets register cluster dup (kgitops-system/a, kgitops-system/b); none of them is used until one is left',
      ]);
    } finally {
      sim.stop();
    }
  });
});

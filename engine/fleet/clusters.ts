/**
 * The clusters a fleet promotes to: Secrets in the controller's namespace labelled
 * `kgitops.io/cluster`, each holding a kubeconfig (key `kubeconfig`), and optionally a name
 * (key `name`; default: the Secret's name). The Secret's other labels are what waves select on
 * (`env=prod`, `region=eu`). The controller reaches each cluster with its kubeconfig and acts
 * there as the App's ServiceAccount (impersonated), as it does in its own cluster.
 *
 * A kubeconfig from a Secret is data, not configuration of this machine: one that names files
 * (certificate-authority, client-key, tokenFile) or runs programs (exec, auth-provider) would
 * read the controller's disk or run code as the controller, so it is refused.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';
import type { FleetPlanSpec, WaveSpec } from '../../dsl/fleet-plan.js';
import { KubeCluster, type KubeClusterOptions } from '../cluster/kube.js';
import type { Cluster, KubeObject } from '../cluster/types.js';

export const LABEL_CLUSTER = 'kgitops.io/cluster';

export interface RegisteredCluster {
  readonly name: string;
  /** The Secret's labels but ours: what waves select on. */
  readonly labels: Readonly<Record<string, string>>;
  /** `<namespace>/<name>` of the Secret, for messages. */
  readonly secret: string;
  /** The kubeconfig, checked (see the module comment). Never logged. */
  readonly kubeconfig: string;
}

export interface ClusterProblem {
  readonly secret: string;
  readonly message: string;
}

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const FILE_FIELDS = ['certificate-authority', 'client-certificate', 'client-key', 'tokenFile'];

/** What is wrong with a kubeconfig that came from a Secret; undefined when it may be used. */
export function kubeconfigProblem(text: string): string | undefined {
  let doc: any;
  try {
    doc = parse(text);
  } catch (e) {
    return `the kubeconfig is not YAML: ${(e as Error).message.split('\n')[0]}`;
  }
  if (!doc || typeof doc !== 'object') return 'the kubeconfig is empty';
  for (const c of doc.clusters ?? []) {
    if (c?.cluster?.['certificate-authority']) return `cluster ${c.name}: certificate-authority names a file; put the CA in certificate-authority-data`;
    if (!c?.cluster?.server) return `cluster ${c?.name ?? '?'} has no server`;
  }
  for (const u of doc.users ?? []) {
    const user = u?.user ?? {};
    if (user.exec) return `user ${u.name}: exec runs a program on the controller; use a token (a ServiceAccount's) or client certificate data`;
    if (user['auth-provider']) return `user ${u.name}: auth-provider runs code on the controller; use a token or client certificate data`;
    const file = FILE_FIELDS.find((f) => user[f]);
    if (file) return `user ${u.name}: ${file} names a file on the controller's disk; put the credential itself in the kubeconfig (${file === 'tokenFile' ? 'token' : `${file}-data`})`;
  }
  if (!(doc.contexts ?? []).length) return 'the kubeconfig has no context';
  return undefined;
}

/** A cluster Secret, read: the cluster, or what is wrong with the Secret. */
export function readClusterSecret(secret: KubeObject): RegisteredCluster | ClusterProblem {
  const where = `${secret.metadata.namespace}/${secret.metadata.name}`;
  const data = (secret.data ?? {}) as Record<string, string>;
  const text = (k: string) => (data[k] ? Buffer.from(data[k], 'base64').toString('utf8') : undefined);
  const kubeconfig = text('kubeconfig');
  if (!kubeconfig) return { secret: where, message: `Secret ${where} has no key kubeconfig` };
  const problem = kubeconfigProblem(kubeconfig);
  if (problem) return { secret: where, message: `Secret ${where}: ${problem}` };
  const name = text('name')?.trim() ?? secret.metadata.name;
  if (!NAME.test(name)) return { secret: where, message: `Secret ${where}: ${JSON.stringify(name)} is not a cluster name (lower-case letters, digits and dashes)` };
  const labels = Object.fromEntries(Object.entries(secret.metadata.labels ?? {}).filter(([k]) => k !== LABEL_CLUSTER));
  return { name, labels, secret: where, kubeconfig };
}

/** The registered clusters, by name; Secrets that cannot be used are problems (and two of one name both are). */
export async function listClusters(cluster: Cluster, namespace: string): Promise<{ clusters: RegisteredCluster[]; problems: ClusterProblem[] }> {
  const { items: secrets } = await cluster.list('v1', 'Secret', { namespace, labelSelector: LABEL_CLUSTER });
  const clusters: RegisteredCluster[] = [];
  const problems: ClusterProblem[] = [];
  for (const s of secrets) {
    const r = readClusterSecret(s);
    if ('message' in r) problems.push(r);
    else clusters.push(r);
  }
  const byName = new Map<string, RegisteredCluster[]>();
  for (const c of clusters) byName.set(c.name, [...(byName.get(c.name) ?? []), c]);
  const unique = clusters.filter((c) => byName.get(c.name)!.length === 1);
  for (const [name, list] of byName) {
    if (list.length > 1) problems.push({ secret: list.map((c) => c.secret).join(', '), message: `${list.length} Secrets register cluster ${name} (${list.map((c) => c.secret).join(', ')}); none of them is used until one is left` });
  }
  return { clusters: unique.sort((a, b) => a.name.localeCompare(b.name)), problems };
}

/** The client of a registered cluster, as the controller (impersonate per App with impersonating()). */
export function clusterClient(c: RegisteredCluster, options: Omit<KubeClusterOptions, 'kubeconfig' | 'context'> = {}): KubeCluster {
  const kc = new KubeConfig();
  kc.loadFromString(c.kubeconfig);
  return new KubeCluster(kc, { component: 'kgitops', ...options });
}

export interface ResolvedWave extends WaveSpec {
  /** The clusters of the wave, in name order. */
  readonly members: string[];
  /** Names the wave asks for that no Secret registers. */
  readonly missing: string[];
}

function selects(w: WaveSpec, c: RegisteredCluster): boolean {
  if (w.clusters.names) return w.clusters.names.includes(c.name);
  return Object.entries(w.clusters.matchLabels ?? {}).every(([k, v]) => c.labels[k] === v);
}

/**
 * The waves with their clusters: a cluster belongs to the first wave that selects it, so a
 * later, broader wave (`env: prod` after `env: prod, region: eu`) takes the rest.
 */
export function resolveWaves(plan: FleetPlanSpec, clusters: readonly RegisteredCluster[]): ResolvedWave[] {
  const taken = new Set<string>();
  return plan.waves.map((w) => {
    const members = clusters.filter((c) => !taken.has(c.name) && selects(w, c)).map((c) => c.name).sort();
    for (const m of members) taken.add(m);
    const missing = (w.clusters.names ?? []).filter((n) => !clusters.some((c) => c.name === n));
    return { ...w, members, missing };
  });
}

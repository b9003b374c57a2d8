/**
 * Finding, reading and checking the kubeconfig: the one place every command that talks to a
 * cluster gets its credentials from (KubeCluster.load and KubeCluster.connect use it).
 *
 * @kubernetes/client-node's own loader is lenient where a user needs to be told: without any
 * kubeconfig it quietly falls back to http://localhost:8080 (and then fails on the first request
 * with "HTTP protocol is not allowed when skipTLSVerify is not set or false"), a missing file is a
 * raw ENOENT, and a YAML error is a multi-line dump. Here each of those is a KubeconfigError whose
 * message says what is wrong and where, on one line, and whose hint says what to do.
 *
 * The search order is kubectl's: --kubeconfig (or cluster.kubeconfig in kgitops.yaml), then
 * $KUBECONFIG (a list; files that do not exist are skipped, as kubectl does, unless none exists),
 * then ~/.kube/config, then the pod's service account when running in a cluster.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { KubeconfigError, oneLine } from './errors.js';

// Defined with the other API errors (light to load: the CLI's error reporting needs them without the client).
export { KubeconfigError, type KubeconfigProblem, oneLine } from './errors.js';

export interface KubeconfigSelection {
  /** A kubeconfig file given explicitly (--kubeconfig, cluster.kubeconfig): it must exist. */
  readonly kubeconfig?: string;
  /** A context of it (--context); unset: its current-context. */
  readonly context?: string;
  /** Where $KUBECONFIG and the in-cluster variables are read. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Where ~/.kube/config is looked for. @default os.homedir() */
  readonly home?: string;
}

export interface LoadedKubeconfig {
  /** Set to the chosen context. */
  readonly kc: KubeConfig;
  /** Where it came from, for messages: a file, `$KUBECONFIG (a, b)`, or `the pod's service account`. */
  readonly origin: string;
  readonly context: string;
  readonly cluster: string;
  readonly user?: string;
  readonly server: URL;
}

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

const FIX_SOURCE = 'pass --kubeconfig <file>, set KUBECONFIG, or use --simulate for the built-in simulated cluster';

/** Finds the kubeconfig, reads it and checks that its chosen context leads to a cluster it can address. */
export function loadKubeconfig(selection: KubeconfigSelection = {}): LoadedKubeconfig {
  const env = selection.env ?? process.env;
  const kc = new KubeConfig();
  let origin: string;
  if (selection.kubeconfig) {
    readKubeconfigFile(kc, selection.kubeconfig, `kubeconfig ${selection.kubeconfig}`);
    origin = selection.kubeconfig;
  } else if (env.KUBECONFIG) {
    const listed = env.KUBECONFIG.split(delimiter).filter(Boolean);
    const files = listed.filter((f) => existsSync(f));
    if (!files.length) {
      throw new KubeconfigError('NotFound', `KUBECONFIG=${env.KUBECONFIG}: ${listed.length > 1 ? 'none of these files exists' : 'no such file'}`,
        'point KUBECONFIG at an existing kubeconfig file, or unset it to use ~/.kube/config; or pass --kubeconfig <file>, or --simulate for the built-in simulated cluster');
    }
    readKubeconfigFile(kc, files[0], `kubeconfig ${files[0]} (from $KUBECONFIG)`);
    for (const f of files.slice(1)) {
      const more = new KubeConfig();
      readKubeconfigFile(more, f, `kubeconfig ${f} (from $KUBECONFIG)`);
      kc.mergeConfig(more);
    }
    origin = files.length > 1 ? `$KUBECONFIG (${files.join(', ')})` : files[0];
  } else {
    const home = selection.home ?? homedir();
    const file = `${home.replace(/\/$/, '')}/.kube/config`;
    if (existsSync(file)) {
      readKubeconfigFile(kc, file, `kubeconfig ${file}`);
      origin = file;
    } else if (env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) {
      kc.loadFromCluster();
      origin = 'the pod\'s service account';
    } else {
      throw new KubeconfigError('NoKubeconfig', `no kubeconfig found: no --kubeconfig given, KUBECONFIG is not set, ${file} does not exist, and this is not a pod`, FIX_SOURCE);
    }
  }
  return chooseContext(kc, origin, selection.context);
}

/** Reads one file into `kc`; every way it can fail says which file and what is wrong with it. */
function readKubeconfigFile(kc: KubeConfig, file: string, what: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new KubeconfigError('NotFound', `${what} does not exist`, `check the path, or ${FIX_SOURCE.replace('pass --kubeconfig <file>, ', 'pass another --kubeconfig, ')}`);
    throw new KubeconfigError('Unreadable', `cannot read ${what}: ${code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : oneLine((e as Error).message)}`,
      'pass a kubeconfig file this user may read');
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    const pos = (e as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    const reason = oneLine((e as Error).message).replace(/ at line \d+, column \d+:.*$/, '');
    throw new KubeconfigError('InvalidYaml', `${what} is not valid YAML${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}: ${reason}`,
      'fix the file, or export a fresh one (kubectl config view --raw --minify > <file>)');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new KubeconfigError('Invalid', `${what} is not a kubeconfig: expected a mapping with clusters, contexts and users, got ${doc === null || doc === undefined ? 'an empty document' : Array.isArray(doc) ? 'a list' : `a ${typeof doc}`}`,
      'pass a kubeconfig file (kubectl config view --raw --minify > <file> writes one)');
  }
  for (const key of ['clusters', 'contexts', 'users'] as const) {
    const v = (doc as Record<string, unknown>)[key];
    if (v !== undefined && v !== null && !Array.isArray(v)) {
      throw new KubeconfigError('Invalid', `${what}: ${key} must be a list, got ${typeof v}`, 'fix the file, or export a fresh one (kubectl config view --raw --minify > <file>)');
    }
  }
  try {
    kc.loadFromFile(file);
  } catch (e) {
    // The library's checks of each entry: "clusters[0].cluster.server is missing" and the like.
    throw new KubeconfigError('Invalid', `${what}: ${oneLine((e as Error).message)}`, 'fix that entry, or export a fresh kubeconfig (kubectl config view --raw --minify > <file>)');
  }
}

function chooseContext(kc: KubeConfig, origin: string, wanted: string | undefined): LoadedKubeconfig {
  const names = kc.getContexts().map((c) => c.name);
  const listed = names.length ? `its contexts: ${names.join(', ')}` : 'it has no contexts';
  if (wanted !== undefined) {
    if (!names.includes(wanted)) {
      throw new KubeconfigError('UnknownContext', `context "${wanted}" is not in the kubeconfig ${origin} (${listed})`,
        names.length ? 'pass --context with one of its contexts' : 'add a context to the kubeconfig (kubectl config set-context), or pass another --kubeconfig');
    }
    kc.setCurrentContext(wanted);
  }
  const name = kc.getCurrentContext();
  if (!name) {
    throw new KubeconfigError('NoContext', `the kubeconfig ${origin} has no current context (${listed})`,
      names.length ? `pass --context <name>, or pick one: kubectl config use-context ${names[0]}` : 'add a cluster, a user and a context to it (kubectl config set-cluster, set-credentials, set-context), or pass another --kubeconfig');
  }
  const context = kc.getContextObject(name);
  if (!context) {
    throw new KubeconfigError('UnknownContext', `the kubeconfig ${origin} has current-context "${name}", which is not one of its contexts (${listed})`,
      names.length ? `pass --context <name>, or fix it: kubectl config use-context ${names[0]}` : 'add that context (kubectl config set-context), or pass another --kubeconfig');
  }
  const cluster = kc.getCluster(context.cluster);
  if (!cluster) {
    throw new KubeconfigError('UnknownCluster', `context "${name}" of the kubeconfig ${origin} names cluster "${context.cluster}", which it does not define`,
      `add the cluster (kubectl config set-cluster ${context.cluster} --server=https://...), or pass another --context`);
  }
  if (context.user && !kc.getUser(context.user)) {
    throw new KubeconfigError('UnknownUser', `context "${name}" of the kubeconfig ${origin} names user "${context.user}", which it does not define`,
      `add the user's credentials (kubectl config set-credentials ${context.user} ...), or pass another --context`);
  }
  let server: URL;
  try {
    server = new URL(cluster.server);
  } catch {
    throw new KubeconfigError('BadServer', `cluster "${cluster.name}" of the kubeconfig ${origin} has server "${cluster.server}", which is not a URL`, 'set it to the apiserver\'s address, e.g. https://10.0.0.1:6443');
  }
  if (server.protocol !== 'https:' && server.protocol !== 'http:') {
    throw new KubeconfigError('BadServer', `cluster "${cluster.name}" of the kubeconfig ${origin} has server ${cluster.server}: only https:// addresses are supported`, 'set it to the apiserver\'s https:// address');
  }
  // As @kubernetes/client-node (and every credential it would send in clear) demands.
  if (server.protocol === 'http:' && !cluster.skipTLSVerify) {
    throw new KubeconfigError('InsecureServer', `cluster "${cluster.name}" of the kubeconfig ${origin} has server ${server.origin}, plain HTTP, which would send its credentials unencrypted`,
      'use the apiserver\'s https:// address (kubectl config view shows what the cluster uses); a local test apiserver that only speaks HTTP needs insecure-skip-tls-verify: true on that cluster');
  }
  return { kc, origin, context: name, cluster: cluster.name, ...(context.user ? { user: context.user } : {}), server };
}

// Starts and stops a real Kubernetes control plane on loopback for the tests.
//
//   level 'a': etcd + kube-apiserver + kube-controller-manager (GC, namespace deletion, ...)
//              + the Kruise CRDs
//   level 'b': level a + kube-scheduler + kwok (fake nodes, pods become Ready without a kubelet)
//              + the real kruise-manager with its webhooks on https://127.0.0.1:<port>
//
// Binaries come from test/cluster/build.sh (a version-keyed cache outside the repository).
import { execFileSync, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';
import {
  appendPid,
  isAlive,
  killAllSync,
  reapStaleRuns,
  spawnWatchdog,
  terminate,
  writeRunRecord,
  type TrackedProcess,
} from './processes.js';
import { rawApply } from './raw-apply.js';

export type Level = 'a' | 'b';

export const CLUSTER_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(CLUSTER_DIR, '..', '..');
const BUILD_SH = path.join(CLUSTER_DIR, 'build.sh');

export const LEVEL_BINARIES: Record<Level, string[]> = {
  a: ['etcd', 'kube-apiserver', 'kube-controller-manager'],
  b: ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok', 'kruise-manager'],
};

export class ControlPlaneError extends Error {
  override name = 'ControlPlaneError';
}

export interface StartOptions {
  level: Level;
  /** Directory holding the binaries. Default: $KGITOPS_BIN_DIR, else build.sh's cache dir. */
  binDir?: string;
  /** Cache root (default $KGITOPS_CACHE_DIR or ~/.cache/kruise-gitops); run state lives in <root>/runs. */
  cacheDir?: string;
  /** The Kruise CRDs and webhook manifests (default schemas/sources/kruise-v1.9.0, copied from ../shared by schemas/copy-sources.sh). */
  kruiseDir?: string;
  /** Survive the calling process (cluster:up). Default false: a watchdog kills it with its owner. */
  persistent?: boolean;
  /** A name for the run (cluster:up --name), recorded with it. */
  name?: string;
  /** Number of kwok nodes at level b (default 3, one per zone: zone-a, zone-b, zone-c, then again). */
  nodes?: number;
  /** Overall start-up deadline. */
  timeoutMs?: number;
  /** Copy component logs here on stop (default $KGITOPS_LOG_DIR, unset = discard). */
  logDir?: string;
  log?: (msg: string) => void;
}

export interface ControlPlane {
  level: Level;
  kubeconfigPath: string;
  server: string;
  token: string;
  stateDir: string;
  binDir: string;
  /** Wall-clock start-up time in ms. */
  startupMs: number;
  processes: TrackedProcess[];
  /** Resident set size per component in bytes (from /proc). */
  rss(): Record<string, number>;
  stop(): Promise<void>;
}

export function cacheRoot(): string {
  return process.env.KGITOPS_CACHE_DIR || path.join(os.homedir(), '.cache', 'kruise-gitops');
}

export function defaultKruiseDir(): string {
  return path.join(REPO_ROOT, 'schemas', 'sources', 'kruise-v1.9.0');
}

/** The bin directory build.sh fills for the pinned versions (does not build anything). */
export function defaultBinDir(): string {
  if (process.env.KGITOPS_BIN_DIR) return path.resolve(process.env.KGITOPS_BIN_DIR);
  try {
    const out = execFileSync('bash', [BUILD_SH, '--print-dir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return path.join(out.trim(), 'bin');
  } catch (e) {
    throw new ControlPlaneError(`cannot locate the control-plane cache: \`${BUILD_SH} --print-dir\` failed: ${(e as Error).message}`);
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Throws a ControlPlaneError naming every missing binary and how to build them. */
export function checkBinaries(binDir: string, level: Level): void {
  const missing = LEVEL_BINARIES[level].filter((b) => !isExecutable(path.join(binDir, b)));
  if (missing.length === 0) return;
  const ci = process.env.CI === 'true' ? ' (CI=true: a missing control plane fails the run, it is never skipped)' : '';
  throw new ControlPlaneError(
    `control-plane binaries missing in ${binDir}: ${missing.join(', ')}${ci}. ` +
      'Build them with `npm run cluster:build` (test/cluster/build.sh; cold build takes a while on 2 cores).',
  );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

interface ProbeResult {
  status: number;
  body: string;
}

/** GET on loopback; certificates are not verified (the probes only check liveness). */
function probe(url: string, headers: Record<string, string> = {}, timeoutMs = 3000): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { headers, rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tail(file: string, lines = 25): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function writeKubeconfig(file: string, server: string, caFile: string, token: string): void {
  const cfg = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kgitops', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: 'admin', user: { token } }],
    contexts: [{ name: 'kgitops', context: { cluster: 'kgitops', user: 'admin' } }],
    'current-context': 'kgitops',
  };
  fs.writeFileSync(file, YAML.stringify(cfg), { mode: 0o600 });
}

/** Our own kwok Stages (kubelet behaviour that in-place updates need); see the file. */
export const KUBELET_STAGES = path.join(CLUSTER_DIR, 'kwok-kubelet-stages.yaml');

function parseYamlDocs(file: string): k8s.KubernetesObject[] {
  return YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as k8s.KubernetesObject | null)
    .filter((o): o is k8s.KubernetesObject => !!o && typeof o === 'object' && !!o.kind);
}

async function applyAll(kc: k8s.KubeConfig, objs: k8s.KubernetesObject[]): Promise<void> {
  for (const obj of objs) await rawApply(kc, obj, { fieldManager: 'kgitops-test-harness', force: true });
}

export async function installKruiseCrds(kc: k8s.KubeConfig, crdDir: string, deadline: number): Promise<string[]> {
  const files = fs.readdirSync(crdDir).filter((f) => f.endsWith('.yaml')).sort();
  if (files.length === 0) throw new ControlPlaneError(`no CRD files in ${crdDir}`);
  const crds = files.flatMap((f) => parseYamlDocs(path.join(crdDir, f)));
  await applyAll(kc, crds);
  const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const names = crds.map((c) => c.metadata!.name!);
  for (const name of names) {
    for (;;) {
      const crd = await api.readCustomResourceDefinition({ name });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new ControlPlaneError(`CRD ${name} not Established in time`);
      await sleep(200);
    }
  }
  return names;
}

/** Kruise webhook configurations as the manager expects to find them (it fills in URL and caBundle). */
export function kruiseWebhookConfigurations(manifestFile: string): k8s.KubernetesObject[] {
  const names: Record<string, string> = {
    MutatingWebhookConfiguration: 'kruise-mutating-webhook-configuration',
    ValidatingWebhookConfiguration: 'kruise-validating-webhook-configuration',
  };
  return parseYamlDocs(manifestFile).map((o) => {
    const name = names[o.kind!];
    if (!name) throw new ControlPlaneError(`unexpected ${o.kind} in ${manifestFile}`);
    return { ...o, metadata: { ...o.metadata, name } };
  });
}

/** Zones of the kwok nodes, in turn: the examples' UnitedDeployment spreads over these three. */
const ZONES = ['zone-a', 'zone-b', 'zone-c'];

function kwokNode(name: string, zone: string): k8s.V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': name,
        'kubernetes.io/role': 'agent',
        'node-role.kubernetes.io/agent': '',
        'topology.kubernetes.io/zone': zone,
        type: 'kwok',
      },
    },
    spec: {},
  };
}

/**
 * Start a control plane. Throws ControlPlaneError (with the failing component's log tail)
 * if a binary is missing or anything does not come up before the deadline.
 */
export async function startControlPlane(opts: StartOptions): Promise<ControlPlane> {
  const t0 = Date.now();
  const level = opts.level;
  const log = opts.log ?? (() => {});
  const binDir = path.resolve(opts.binDir ?? defaultBinDir());
  checkBinaries(binDir, level);
  const kruiseDir = opts.kruiseDir ?? defaultKruiseDir();
  const crdDir = path.join(kruiseDir, 'crds');
  const webhookManifest = path.join(kruiseDir, 'webhook-manifests.yaml');
  if (!fs.existsSync(crdDir)) throw new ControlPlaneError(`Kruise CRDs not found at ${crdDir} (npm run copy-sources)`);
  if (level === 'b' && !fs.existsSync(webhookManifest)) {
    throw new ControlPlaneError(`Kruise webhook manifests not found at ${webhookManifest}`);
  }
  const kwokStages = path.join(binDir, '..', 'kwok-stages.yaml');
  if (level === 'b' && !fs.existsSync(kwokStages)) {
    throw new ControlPlaneError(`${kwokStages} missing: run \`npm run cluster:build\``);
  }
  const deadline = t0 + (opts.timeoutMs ?? (level === 'a' ? 180_000 : 300_000));

  const runsDir = path.join(opts.cacheDir ?? cacheRoot(), 'runs');
  fs.mkdirSync(runsDir, { recursive: true });
  await reapStaleRuns(runsDir, { log });
  const stateDir = fs.mkdtempSync(path.join(runsDir, `${opts.persistent ? 'up' : 'test'}-${level}-`));
  const logsDir = path.join(stateDir, 'logs');
  fs.mkdirSync(logsDir);
  const kubeconfigPath = path.join(stateDir, 'kubeconfig');
  // Written first, so a concurrent reapStaleRuns() never mistakes this run for an orphan.
  writeRunRecord(stateDir, {
    ownerPid: process.pid,
    persistent: !!opts.persistent,
    level,
    ...(opts.name ? { name: opts.name } : {}),
    stateDir,
    kubeconfigPath,
    startedAt: new Date().toISOString(),
  });

  const processes: TrackedProcess[] = [];
  let stopped = false;
  let starting = true;

  const onExit = () => {
    if (!stopped) killAllSync(processes);
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (!stopped) {
      killAllSync(processes);
      stopped = true;
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
    removeHooks();
    // If nobody else handles the signal, restore the default action (terminate).
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const removeHooks = () => {
    process.off('exit', onExit);
    for (const s of signals) process.off(s, onSignal);
  };
  if (!opts.persistent) {
    process.on('exit', onExit);
    for (const s of signals) process.on(s, onSignal);
    const dog = spawnWatchdog(process.pid, stateDir);
    processes.push(dog);
    appendPid(stateDir, dog);
  }

  const copyLogs = () => {
    const dest = opts.logDir ?? process.env.KGITOPS_LOG_DIR;
    if (!dest) return;
    try {
      const target = path.join(path.resolve(dest), path.basename(stateDir));
      fs.mkdirSync(target, { recursive: true });
      for (const f of fs.readdirSync(logsDir)) fs.copyFileSync(path.join(logsDir, f), path.join(target, f));
    } catch {
      /* best effort */
    }
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const p of [...processes].reverse()) await terminate(p);
    removeHooks();
    copyLogs();
    fs.rmSync(stateDir, { recursive: true, force: true });
  };

  const exited = new Map<string, number | string>();
  const start = (name: string, args: string[], env: Record<string, string> = {}): TrackedProcess => {
    const bin = path.join(binDir, name);
    const logFile = path.join(logsDir, `${name}.log`);
    const fd = fs.openSync(logFile, 'a');
    const child = spawn(bin, args, {
      cwd: stateDir,
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...env },
    });
    fs.closeSync(fd);
    if (!child.pid) throw new ControlPlaneError(`failed to spawn ${bin}`);
    child.unref();
    child.on('exit', (code, signal) => {
      exited.set(name, code ?? signal ?? 'unknown');
      if (!stopped && !starting) log(`${name} exited (${code ?? signal}); see ${logFile}`);
    });
    child.on('error', (e) => exited.set(name, e.message));
    const p: TrackedProcess = { name, pid: child.pid, bin, child };
    processes.push(p);
    appendPid(stateDir, p);
    return p;
  };

  /** Poll until check() returns true; fail early if a listed component died. */
  const until = async (what: string, watch: string[], check: () => Promise<boolean>) => {
    for (;;) {
      for (const name of watch) {
        if (exited.has(name)) {
          throw new ControlPlaneError(
            `${name} exited (${exited.get(name)}) while waiting for ${what}; last log lines:\n${tail(path.join(logsDir, `${name}.log`))}`,
          );
        }
      }
      try {
        if (await check()) return;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) {
        const logs = watch.map((n) => `--- ${n}.log\n${tail(path.join(logsDir, `${n}.log`))}`).join('\n');
        throw new ControlPlaneError(`timed out waiting for ${what}\n${logs}`);
      }
      await sleep(150);
    }
  };

  try {
    const [etcdPort, peerPort, apiPort, kcmPort, schedPort, webhookPort, kruiseProbePort] = await freePorts(7);

    // --- credentials: an admin bearer token (system:masters) and a service-account signing key
    const token = crypto.randomBytes(24).toString('hex');
    // A second admin, whose writes (only) the apiserver's audit log records: tests that must know
    // who wrote what (which controller replica) connect as it, with kubeconfig-audited.
    const auditedToken = crypto.randomBytes(24).toString('hex');
    fs.writeFileSync(path.join(stateDir, 'tokens.csv'), `${token},kgitops-admin,kgitops-admin,"system:masters"\n${auditedToken},kgitops-audited,kgitops-audited,"system:masters"\n`, {
      mode: 0o600,
    });
    fs.writeFileSync(path.join(stateDir, 'audit-policy.yaml'), YAML.stringify({
      apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['RequestReceived'],
      rules: [
        { level: 'Metadata', users: ['kgitops-audited'], verbs: ['create', 'update', 'patch', 'delete', 'deletecollection'] },
        { level: 'None' },
      ],
    }));
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const saKey = path.join(stateDir, 'sa.key');
    fs.writeFileSync(saKey, privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });

    // --- etcd
    log(`starting etcd on 127.0.0.1:${etcdPort}`);
    start('etcd', [
      '--name=kgitops',
      `--data-dir=${path.join(stateDir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=kgitops=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    await until('etcd health', ['etcd'], async () => {
      const r = await probe(`http://127.0.0.1:${etcdPort}/health`);
      return r.status === 200 && r.body.includes('"health":"true"');
    });

    // --- kube-apiserver
    const server = `https://127.0.0.1:${apiPort}`;
    const certDir = path.join(stateDir, 'pki');
    log(`starting kube-apiserver on ${server}`);
    start('kube-apiserver', [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      '--advertise-address=127.0.0.1',
      `--cert-dir=${certDir}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      `--service-account-issuer=${server}`,
      `--service-account-key-file=${saKey}`,
      `--service-account-signing-key-file=${saKey}`,
      `--token-auth-file=${path.join(stateDir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--endpoint-reconciler-type=none',
      '--allow-privileged=true',
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      `--audit-policy-file=${path.join(stateDir, 'audit-policy.yaml')}`,
      `--audit-log-path=${path.join(stateDir, 'audit.log')}`,
      '--audit-log-format=json',
    ]);
    const auth = { Authorization: `Bearer ${token}` };
    await until('kube-apiserver /readyz', ['etcd', 'kube-apiserver'], async () => {
      const r = await probe(`${server}/readyz`, auth);
      return r.status === 200;
    });
    const caFile = path.join(certDir, 'apiserver.crt');
    writeKubeconfig(kubeconfigPath, server, caFile, token);
    writeKubeconfig(path.join(stateDir, 'kubeconfig-audited'), server, caFile, auditedToken);
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfigPath);

    // --- kube-controller-manager: all default controllers (GC, namespace deletion, service
    // accounts, workload controllers, node lifecycle: it lifts the not-ready taint that new nodes
    // get; kwok keeps the nodes healthy through node leases). No cloud, no pod CIDRs.
    log('starting kube-controller-manager');
    start('kube-controller-manager', [
      `--kubeconfig=${kubeconfigPath}`,
      `--authentication-kubeconfig=${kubeconfigPath}`,
      `--authorization-kubeconfig=${kubeconfigPath}`,
      '--authentication-skip-lookup', // no client CA configured: don't poll for its ConfigMap
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      `--cert-dir=${path.join(stateDir, 'kcm-pki')}`,
      '--controllers=*,-node-ipam-controller,-cloud-node-lifecycle-controller,-service-lb-controller,-node-route-controller',
      `--service-account-private-key-file=${saKey}`,
      `--root-ca-file=${caFile}`,
      '--profiling=false',
    ]);

    // --- Kruise CRDs (server-side apply), in parallel with the controller-manager coming up
    log('installing Kruise CRDs');
    const crdNames = await installKruiseCrds(kc, crdDir, deadline);
    log(`installed ${crdNames.length} CRDs`);
    await until('kube-controller-manager /healthz', ['kube-controller-manager'], async () => {
      const r = await probe(`https://127.0.0.1:${kcmPort}/healthz`);
      return r.status === 200;
    });
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await until('the default ServiceAccount (controller-manager working)', ['kube-controller-manager'], async () => {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
      return true;
    });

    if (level === 'b') {
      // --- kube-scheduler
      log('starting kube-scheduler');
      start('kube-scheduler', [
        `--kubeconfig=${kubeconfigPath}`,
        `--authentication-kubeconfig=${kubeconfigPath}`,
        `--authorization-kubeconfig=${kubeconfigPath}`,
        '--authentication-skip-lookup',
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        `--secure-port=${schedPort}`,
        `--cert-dir=${path.join(stateDir, 'scheduler-pki')}`,
        '--profiling=false',
      ]);

      // --- kwok with upstream node/pod stages plus our kubelet-like stages
      const stagesFile = path.join(stateDir, 'kwok-stages.yaml');
      fs.writeFileSync(stagesFile, fs.readFileSync(kwokStages, 'utf8') + '\n---\n' + fs.readFileSync(KUBELET_STAGES, 'utf8'));
      const nodeCount = opts.nodes ?? 3;
      for (let i = 0; i < nodeCount; i++) await core.createNode({ body: kwokNode(`kwok-node-${i}`, ZONES[i % ZONES.length]!) });
      log(`starting kwok with ${nodeCount} node(s)`);
      start('kwok', [
        `--kubeconfig=${kubeconfigPath}`,
        '--manage-all-nodes=true',
        `--config=${stagesFile}`,
        '--node-lease-duration-seconds=40',
      ]);
      // Ready (kwok) and schedulable (the node lifecycle controller removed the not-ready taint)
      await until('kwok nodes Ready and untainted', ['kwok', 'kube-controller-manager'], async () => {
        const nodes = await core.listNode();
        const ready = nodes.items.filter(
          (n) =>
            n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
            !n.spec?.taints?.some((t) => t.key.startsWith('node.kubernetes.io/')),
        );
        return ready.length === nodeCount;
      });
      await until('kube-scheduler /healthz', ['kube-scheduler'], async () => {
        const r = await probe(`https://127.0.0.1:${schedPort}/healthz`);
        return r.status === 200;
      });

      // --- kruise-manager, webhooks served on https://127.0.0.1:<webhookPort>
      await applyAll(kc, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kruise-system' } }]);
      await applyAll(kc, kruiseWebhookConfigurations(webhookManifest));
      const kruiseLogDir = path.join(stateDir, 'kruise-log');
      fs.mkdirSync(kruiseLogDir);
      log(`starting kruise-manager (webhooks on https://127.0.0.1:${webhookPort})`);
      start(
        'kruise-manager',
        [
          '--enable-leader-election=false',
          '--metrics-addr=0',
          `--health-probe-addr=127.0.0.1:${kruiseProbePort}`,
          '--enable-pprof=false',
          `--protection-log-path=${kruiseLogDir}`,
          // As the Helm chart runs it: image pull jobs on. There is no kruise-daemon on kwok nodes, so
          // NodeImage statuses (what the daemon pulled) come from the tests that need them.
          '--feature-gates=KruiseDaemon=true,ImagePullJobGate=true',
        ],
        {
          KUBECONFIG: kubeconfigPath,
          POD_NAMESPACE: 'kruise-system',
          WEBHOOK_HOST: '127.0.0.1',
          WEBHOOK_PORT: String(webhookPort),
          WEBHOOK_CERT_DIR: path.join(stateDir, 'kruise-certs'),
        },
      );
      await until('kruise-manager /readyz', ['kruise-manager'], async () => {
        const r = await probe(`http://127.0.0.1:${kruiseProbePort}/readyz`);
        return r.status === 200;
      });
      // The manager rewrites the configurations with its URL and CA once initialised.
      const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
      await until('Kruise webhook configurations pointing at 127.0.0.1', ['kruise-manager'], async () => {
        const v = await admission.readValidatingWebhookConfiguration({ name: 'kruise-validating-webhook-configuration' });
        const m = await admission.readMutatingWebhookConfiguration({ name: 'kruise-mutating-webhook-configuration' });
        const ok = (hooks: { clientConfig: k8s.AdmissionregistrationV1WebhookClientConfig }[] | undefined) =>
          !!hooks?.length && hooks.every((h) => h.clientConfig.url?.startsWith(`https://127.0.0.1:${webhookPort}/`) && !!h.clientConfig.caBundle);
        return ok(v.webhooks) && ok(m.webhooks);
      });
    }

    starting = false;
    const startupMs = Date.now() - t0;
    log(`control plane level ${level} up in ${(startupMs / 1000).toFixed(1)}s: ${kubeconfigPath}`);
    return {
      level,
      kubeconfigPath,
      server,
      token,
      stateDir,
      binDir,
      startupMs,
      processes,
      rss: () =>
        Object.fromEntries(processes.filter((p) => p.name !== 'watchdog' && isAlive(p.pid)).map((p) => [p.name, rssOf(p.pid)])),
      stop,
    };
  } catch (e) {
    starting = false;
    await stop(); // also copies the logs when KGITOPS_LOG_DIR is set
    if (e instanceof ControlPlaneError) throw e;
    const err = e as Error & { body?: unknown };
    throw new ControlPlaneError(
      `control plane (level ${level}) failed to start: ${err.message}${err.body ? ` ${JSON.stringify(err.body)}` : ''}`,
    );
  }
}

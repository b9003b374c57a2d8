/** `kgitops controller`: reconcile every App resource of the cluster, each as its own ServiceAccount. */
import { randomBytes } from 'node:crypto';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { KubeCluster } from '../cluster/kube.js';
import type { Cluster } from '../cluster/types.js';
import { realClock } from '../clock.js';
import { ConfigError, sandboxConfig } from '../config.js';
import { Controller, type ControllerOptions } from '../controller/controller.js';
import { DEFAULT_LEASE_TIMING } from '../controller/lease.js';
import { EngineMetrics } from '../metrics/index.js';
import { parseGoDuration } from '../../dsl/cron.js';
import { createLogger, type LogFormat } from '../log.js';
import { DEFAULT_WEBHOOK_HOST, startWebhookServer } from '../source/webhook.js';
import { addDashboardOptions, type DashboardFlags, startDashboard } from './dashboard.js';
import { addMetricsOptions, type MetricsFlags, serveMetrics } from './metrics.js';
import { ExitCode } from './output.js';
import { addSandboxOptions, type SandboxFlags } from './sandbox.js';
import { printFailure, reportError } from './errors.js';

export interface ControllerFlags extends SandboxFlags, MetricsFlags, DashboardFlags {
  kubeconfig?: string;
  context?: string;
  simulate?: boolean;
  clustersNamespace?: string;
  namespace?: string;
  defaultServiceAccount?: string;
  allowControllerIdentity?: boolean;
  allowLocalRepos?: boolean;
  concurrency?: string;
  cacheDir?: string;
  webhookPort?: string;
  webhookHost?: string;
  typecheck?: boolean;
  logFormat: LogFormat;
  leaderElect?: boolean;
  shards?: string;
  leaseNamespace?: string;
  replicaId?: string;
  leaseDuration?: string;
  renewDeadline?: string;
  retryPeriod?: string;
  kubeQps?: string;
  kubeBurst?: string;
}

export function registerController(program: Command): void {
  addDashboardOptions(addMetricsOptions(addSandboxOptions(program.command('controller'))))
    .description('Reconcile every App (apps.kgitops.io) in the cluster: each from its repo, as its own ServiceAccount')
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config or in-cluster)')
    .option('--context <name>', 'kubeconfig context')
    .option('--simulate', 'run against the built-in simulated cluster (no RBAC there)')
    .option('-n, --namespace <ns>', 'watch Apps in this namespace only (default: every namespace)')
    .option('--default-service-account <name>', 'ServiceAccount (in each App\'s namespace) of Apps that name none')
    .option('--allow-controller-identity', 'let Apps that name no ServiceAccount act as the controller itself (single-tenant clusters only)')
    .option('--allow-local-repos', 'let Apps name a repo by a path on the controller\'s disk (tests and demos only)')
    .option('--concurrency <n>', 'Apps reconciled at once (default: the number of cores)')
    .option('--cache-dir <dir>', 'where git mirrors, checkouts and dependencies are cached')
    .option('--no-typecheck', 'do not type-check each commit\'s app before running it')
    .option('--webhook-port <port>', 'serve push webhooks for every App on this port (/hooks/github, /hooks/gitlab, /hooks/generic)')
    .option('--webhook-host <addr>', `address the webhooks listen on (default ${DEFAULT_WEBHOOK_HOST}; 0.0.0.0 in a pod)`)
    .option('--leader-elect', 'run as one of several replicas: Apps are held through Leases, and a dead replica\'s are taken over')
    .option('--shards <n>', 'split the Apps into n shards held by the replicas (implies --leader-elect; the same n on every replica)', '1')
    .option('--lease-namespace <ns>', 'where the Leases live (default: $POD_NAMESPACE, else kgitops-system)')
    .option('--clusters-namespace <ns>', 'where the fleets\' cluster Secrets are, labelled kgitops.io/cluster (default: $POD_NAMESPACE, else kgitops-system)')
    .option('--replica-id <id>', 'this replica\'s name in the Leases (default: $POD_NAME or the host name, and a random suffix)')
    .option('--lease-duration <d>', 'how long a Lease lasts without renewal', '15s')
    .option('--renew-deadline <d>', 'give a Lease up when it could not be renewed for this long', '10s')
    .option('--retry-period <d>', 'how often Leases are renewed or tried', '2s')
    .option('--kube-qps <n>', 'at most n Kubernetes API requests a second, after the burst (default: no limit but 16 in flight)')
    .option('--kube-burst <n>', 'requests at once before --kube-qps applies (default: 2 × qps)')
    .option('--log-format <format>', 'text or json', 'text')
    .addHelpText('after', `
Apps are namespaced: the namespace is the tenant. Every read and write of an App's objects
impersonates its spec.serviceAccountName (or --default-service-account), so RBAC decides what a
commit may do; an App that names none fails unless --allow-controller-identity is given.
State lives in each App's status (inventory, history, conditions Ready/Reconciling/Stalled):

  kubectl get apps.kgitops.io -A
  kubectl wait --for=condition=Ready apps.kgitops.io/shop -n team-a

High availability: run several replicas with --leader-elect (one holds every App, the others
stand by) or --shards n (the Apps are split by a stable hash into n shards, each held by one
replica through a Lease kgitops-shard-<i>; a replica joining or dying moves only whole shards).
A replica that dies is replaced within the lease duration; one stopped with SIGTERM hands its
shards over at once. kgitops status shows the replica of each App.

Install the CRD and the controller's RBAC with: kgitops install | kubectl apply -f -
The webhook secret is read from KGITOPS_WEBHOOK_SECRET; it is never logged.`)
    .action(async (opts: ControllerFlags) => {
      process.exitCode = await runController(opts);
    });
}

async function runController(opts: ControllerFlags): Promise<number> {
  const log = createLogger({ format: opts.logFormat });
  let cluster: Cluster;
  let concurrency: number | undefined;
  let sharding: ControllerOptions['sharding'];
  let qps: number | undefined;
  let burst: number | undefined;
  let controller: Controller | undefined;
  const metrics = opts.metricsPort !== undefined ? new EngineMetrics({
    queueDepth: () => controller?.queueDepth ?? 0,
    apps: () => controller?.heldApps() ?? [],
    shardsHeld: () => controller?.sharding?.shards.length ?? 0,
    sharedWatches: () => controller?.sharedWatches ?? 0,
  }) : undefined;
  try {
    sharding = shardingOf(opts);
    const count = (flag: string, v: string | undefined) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`${flag}: "${v}" is not a positive number`, `e.g. ${flag} 50`);
      return n;
    };
    qps = count('--kube-qps', opts.kubeQps);
    burst = count('--kube-burst', opts.kubeBurst);
    if (opts.concurrency !== undefined) {
      concurrency = Number(opts.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new ConfigError(`--concurrency: "${opts.concurrency}" is not a positive whole number`, 'e.g. --concurrency 4');
    }
    if (opts.simulate) {
      const { SimCluster } = await import('../cluster/sim/index.js');
      cluster = new SimCluster({ clock: realClock });
      log.warn('SIMULATION: the cluster is simulated in this process; nothing reaches a real cluster, and RBAC is not enforced');
    } else {
      cluster = await KubeCluster.connect({ kubeconfig: opts.kubeconfig, context: opts.context, component: 'kgitops-controller', ...(sharding ? { instance: sharding.identity } : {}),
        ...(metrics ? { observer: metrics.requestObserver } : {}),
        ...(qps ? { qps } : {}), ...(burst ? { burst } : {}),
      });
    }
  } catch (e) {
    return reportError(e);
  }
  const controllerCacheDir = opts.cacheDir ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kruise-gitops', 'controller');
  controller = new Controller({
    ...(sharding ? { sharding } : {}),
    ...(metrics ? { metrics } : {}),
    cluster, clock: realClock, log,
    ...(opts.namespace ? { namespace: opts.namespace } : {}),
    clustersNamespace: opts.clustersNamespace ?? process.env.POD_NAMESPACE ?? 'kgitops-system',
    ...(opts.defaultServiceAccount ? { defaultServiceAccount: opts.defaultServiceAccount } : {}),
    allowControllerIdentity: !!opts.allowControllerIdentity, allowLocalRepos: !!opts.allowLocalRepos,
    ...(concurrency ? { concurrency } : {}),
    cacheDir: controllerCacheDir,
    sandbox: sandboxConfig(undefined, opts), typecheck: opts.typecheck !== false,
  });
  let webhook: { close(): Promise<void> } | undefined;
  if (opts.webhookPort !== undefined) {
    const secret = process.env.KGITOPS_WEBHOOK_SECRET;
    if (!secret) {
      printFailure('--webhook-port needs a secret in $KGITOPS_WEBHOOK_SECRET', 'export KGITOPS_WEBHOOK_SECRET with the secret the git host signs its push webhooks with', 'text', 'Config');
      return ExitCode.ERROR;
    }
    try {
      webhook = await startWebhookServer({
        port: Number(opts.webhookPort), host: opts.webhookHost ?? DEFAULT_WEBHOOK_HOST, secret,
        onPush: (event) => void controller.onPush(event), log: (line) => log.info(`webhook ${line}`),
      });
    } catch (e) {
      printFailure(`cannot serve webhooks on port ${opts.webhookPort}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'pick another --webhook-port', 'text', 'Config');
      return ExitCode.ERROR;
    }
  }
  const c = controller;
  const metricsServer = await serveMetrics(opts, metrics, () => c.notReady(), log);
  if (metricsServer === false) {
    await webhook?.close();
    return ExitCode.ERROR;
  }
  const dashboard = await startDashboard(opts, { controller, cluster, clock: realClock, cacheDir: controllerCacheDir, log });
  if (dashboard === false) {
    await webhook?.close();
    await metricsServer?.close();
    return ExitCode.ERROR;
  }
  const stop = (sig: string) => {
    log.warn({ signal: sig }, 'stopping: finishing the requests in flight');
    void controller.stop();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  log.info({
    cluster: cluster.name, namespace: opts.namespace ?? '(all)', defaultServiceAccount: opts.defaultServiceAccount ?? '(none)',
    ...(sharding ? { replica: sharding.identity, shards: sharding.shards, leases: sharding.namespace } : {}),
  }, 'kgitops controller starting');
  try {
    await controller.run();
  } catch (e) {
    await webhook?.close();
    await metricsServer?.close();
    await dashboard?.close();
    return reportError(e);
  }
  await webhook?.close();
  await metricsServer?.close();
  await dashboard?.close();
  log.info('stopped');
  return ExitCode.OK;
}

/** The Lease settings of --leader-elect / --shards, checked. */
function shardingOf(opts: ControllerFlags): ControllerOptions['sharding'] {
  const shards = Number(opts.shards ?? '1');
  if (!Number.isInteger(shards) || shards < 1 || shards > 1024) throw new ConfigError(`--shards: "${opts.shards}" is not a whole number from 1 to 1024`, 'e.g. --shards 8 (the same on every replica)');
  if (!opts.leaderElect && shards === 1) return undefined;
  const duration = (flag: string, v: string | undefined, d: number) => {
    if (v === undefined) return d;
    const seconds = parseGoDuration(v);
    if (seconds === undefined || seconds <= 0) throw new ConfigError(`${flag}: "${v}" is not a duration`, 'e.g. 15s, 500ms, 1m');
    return Math.round(seconds * 1000);
  };
  const timing = {
    leaseDurationMs: duration('--lease-duration', opts.leaseDuration, DEFAULT_LEASE_TIMING.leaseDurationMs),
    renewDeadlineMs: duration('--renew-deadline', opts.renewDeadline, DEFAULT_LEASE_TIMING.renewDeadlineMs),
    retryPeriodMs: duration('--retry-period', opts.retryPeriod, DEFAULT_LEASE_TIMING.retryPeriodMs),
  };
  // As controller-runtime: otherwise a holder could still be acting when another replica takes over.
  if (timing.renewDeadlineMs >= timing.leaseDurationMs) throw new ConfigError('--renew-deadline must be shorter than --lease-duration', 'e.g. --lease-duration 15s --renew-deadline 10s');
  if (timing.retryPeriodMs >= timing.renewDeadlineMs) throw new ConfigError('--retry-period must be shorter than --renew-deadline', 'e.g. --renew-deadline 10s --retry-period 2s');
  const identity = opts.replicaId ?? `${process.env.POD_NAME ?? hostname()}_${randomBytes(4).toString('hex')}`;
  return { namespace: opts.leaseNamespace ?? process.env.POD_NAMESPACE ?? 'kgitops-system', identity, shards, timing };
}
